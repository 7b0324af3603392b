package io.streamtrain.cli.ingest;

import io.streamtrain.core.codec.DType;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Reads the IDX files of the MNIST family (MNIST, Fashion-MNIST, KMNIST): an images file
 * ({@code [N, rows, cols]} unsigned bytes) and a labels file ({@code [N]} unsigned bytes),
 * gzipped or not, told apart by their headers rather than their names. Pixels become
 * float32 in [0, 1] ({@code value / 255}), labels int64.
 *
 * <p>IDX: two zero bytes, a type byte ({@code 0x08} = unsigned byte), the number of
 * dimensions, each dimension as a big-endian int32, then the data in row-major order.
 */
final class IdxReader {
    private static final int UNSIGNED_BYTE = 0x08;

    /** How a sample's pixels are laid out in {@code x}. */
    enum ImageShape {
        /** {@code [B, rows * cols]}: for an MLP. */
        FLAT,
        /** {@code [B, 1, rows, cols]}: channels, height, width, for a convolutional model. */
        CHW;

        static ImageShape parse(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    private IdxReader() {}

    /** One IDX file's header and where its data starts. */
    record Header(int type, int[] dims, int dataOffset) {
        long elements() {
            long n = 1;
            for (int d : dims) {
                n *= d;
            }
            return n;
        }
    }

    /** Reads an images file and a labels file, given in either order. */
    static Samples read(List<Path> files, ImageShape shape) throws InputException {
        if (files.size() != 2) {
            throw new InputException(
                    "idx takes two files, an images file and a labels file (e.g. train-images-idx3-ubyte.gz "
                            + "train-labels-idx1-ubyte.gz); got " + files.size() + ": " + files);
        }
        byte[] a = InputFiles.readAll(files.get(0));
        byte[] b = InputFiles.readAll(files.get(1));
        Header ha = header(files.get(0), a);
        Header hb = header(files.get(1), b);
        boolean aImages = ha.dims().length == 3;
        Path imagesFile = aImages ? files.get(0) : files.get(1);
        Path labelsFile = aImages ? files.get(1) : files.get(0);
        Header hi = aImages ? ha : hb;
        Header hl = aImages ? hb : ha;
        if (hi.dims().length != 3 || hl.dims().length != 1) {
            throw new InputException(
                    "idx needs an images file with 3 dimensions [N, rows, cols] and a labels file with 1 [N]; "
                            + files.get(0) + " has " + ha.dims().length + " and " + files.get(1) + " has "
                            + hb.dims().length);
        }
        if (hi.dims()[0] != hl.dims()[0]) {
            throw new InputException(imagesFile + " holds " + hi.dims()[0] + " images but " + labelsFile + " holds "
                    + hl.dims()[0] + " labels: are they of the same set (train/t10k)?");
        }
        return new Images(aImages ? a : b, hi, aImages ? b : a, hl, shape);
    }

    static Header header(Path file, byte[] bytes) throws InputException {
        if (bytes.length < 4 || bytes[0] != 0 || bytes[1] != 0) {
            throw new InputException(
                    file + " is not an IDX file (it must start with two zero bytes, a type and a dimension count)");
        }
        int type = bytes[2] & 0xff;
        int rank = bytes[3] & 0xff;
        if (type != UNSIGNED_BYTE) {
            throw new InputException(file + " holds IDX type 0x" + Integer.toHexString(type)
                    + "; only unsigned bytes (0x08, the MNIST family's type) are supported");
        }
        if (rank == 0 || bytes.length < 4 + 4 * rank) {
            throw new InputException(file + " has a truncated IDX header");
        }
        ByteBuffer bb = ByteBuffer.wrap(bytes); // IDX is big-endian, ByteBuffer's default
        int[] dims = new int[rank];
        for (int i = 0; i < rank; i++) {
            dims[i] = bb.getInt(4 + 4 * i);
            if (dims[i] < 0) {
                throw new InputException(file + " has a negative IDX dimension " + dims[i]);
            }
        }
        Header h = new Header(type, dims, 4 + 4 * rank);
        long expected = h.elements();
        long actual = bytes.length - h.dataOffset();
        if (actual != expected) {
            throw new InputException(file + (actual < expected ? " is truncated" : " has trailing bytes")
                    + ": its header promises " + expected + " data bytes, the file holds " + actual);
        }
        return h;
    }

    private static final class Images implements Samples {
        private final byte[] pixels;
        private final int pixelsOffset;
        private final byte[] labels;
        private final int labelsOffset;
        private final int count;
        private final int pixelsPerImage;
        private final SampleLayout layout;

        Images(byte[] pixels, Header images, byte[] labels, Header labelsHeader, ImageShape shape) {
            this.pixels = pixels;
            this.pixelsOffset = images.dataOffset();
            this.labels = labels;
            this.labelsOffset = labelsHeader.dataOffset();
            this.count = images.dims()[0];
            int rows = images.dims()[1];
            int cols = images.dims()[2];
            this.pixelsPerImage = rows * cols;
            long[] xShape = shape == ImageShape.FLAT ? new long[] {pixelsPerImage} : new long[] {1, rows, cols};
            this.layout = new SampleLayout(DType.F32, xShape, DType.I64, new long[0]);
        }

        @Override
        public int size() {
            return count;
        }

        @Override
        public SampleLayout layout() {
            return layout;
        }

        @Override
        public void putX(int i, ByteBuffer out) {
            int from = pixelsOffset + i * pixelsPerImage;
            for (int p = 0; p < pixelsPerImage; p++) {
                out.putFloat((pixels[from + p] & 0xff) / 255f);
            }
        }

        @Override
        public void putY(int i, ByteBuffer out) {
            out.putLong(labels[labelsOffset + i] & 0xff);
        }
    }
}
