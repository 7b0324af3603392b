package io.streamtrain.cli.ingest;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/** Opening input files: gzip is recognized by its magic bytes, whatever the file is called. */
final class InputFiles {
    private InputFiles() {}

    /** The file's contents, gunzipped when it is gzip. */
    static InputStream open(Path file) throws InputException {
        try {
            InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
            in.mark(2);
            int b0 = in.read();
            int b1 = in.read();
            in.reset();
            return b0 == 0x1f && b1 == 0x8b ? new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16) : in;
        } catch (IOException e) {
            throw cannotRead(file, e);
        }
    }

    static byte[] readAll(Path file) throws InputException {
        try (InputStream in = open(file)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw cannotRead(file, e);
        }
    }

    static InputException cannotRead(Path file, IOException e) {
        String why = e instanceof NoSuchFileException
                ? "no such file"
                : e instanceof AccessDeniedException ? "permission denied" : e.getMessage();
        return new InputException("cannot read " + file + ": " + why, e);
    }

    /**
     * The inputs with every directory replaced by the regular files below it, in name order
     * (hidden files left out); files named directly are kept as they are, in the order given.
     */
    static List<Path> expand(List<Path> inputs) throws InputException {
        List<Path> out = new ArrayList<>();
        for (Path p : inputs) {
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.walk(p)) {
                    s.filter(Files::isRegularFile)
                            .filter(f -> !hidden(p.relativize(f)))
                            .sorted()
                            .forEach(out::add);
                } catch (IOException e) {
                    throw cannotRead(p, e);
                }
            } else if (!Files.exists(p)) {
                throw new InputException("cannot read " + p + ": no such file or directory");
            } else {
                out.add(p);
            }
        }
        return out;
    }

    private static boolean hidden(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }
}
