package io.streamtrain.core.codec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One named tensor of a safetensors document: element type, shape, and its little-endian
 * bytes (a read-only view; not copied on read).
 */
public record Tensor(String name, DType dtype, long[] shape, ByteBuffer data) {

    public Tensor {
        shape = shape.clone();
        data = data.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    public static Tensor ofFloats(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new Tensor(name, DType.F32, shape, b);
    }

    public static Tensor ofLongs(String name, long[] shape, long[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return new Tensor(name, DType.I64, shape, b);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /**
     * The values as float32, converting from any numeric type (no scaling): F64 rounds to
     * nearest, F16 and BF16 widen exactly, integers convert as by a Java cast.
     */
    public float[] toFloats() {
        int n = Math.toIntExact(elements());
        float[] out = new float[n];
        ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case F32 -> b.asFloatBuffer().get(out);
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) b.getDouble(i * 8);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = halfToFloat(b.getShort(i * 2));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = bfloat16ToFloat(b.getShort(i * 2));
                }
            }
            default -> {
                long[] l = toLongs();
                for (int i = 0; i < n; i++) {
                    out[i] = l[i];
                }
            }
        }
        return out;
    }

    /**
     * The values as float32 ({@link #toFloats()}'s conversions) in a direct buffer taken from
     * {@code buffers}, in the platform's byte order, what {@link Batch#x()} holds:
     * little-endian float32 data is one copy, with no array in between.
     */
    public ByteBuffer toNativeFloats(FeatureBuffers buffers) {
        ByteBuffer out = buffers.take(Math.toIntExact(elements()));
        if (dtype == DType.F32 && out.order() == ByteOrder.LITTLE_ENDIAN) {
            out.put(data.duplicate()).clear();
        } else {
            out.asFloatBuffer().put(toFloats());
        }
        return out;
    }

    /**
     * An IEEE 754 binary16 value (1 sign bit, 5 exponent bits with bias 15, 10 mantissa bits)
     * as float32; every half value is exact in float32. Subnormals become normal float32s,
     * infinities stay infinite and NaN stays NaN (its payload kept in the high mantissa bits).
     * Java 20's {@code Float.float16ToFloat}, for Java 17.
     */
    static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13)); // infinity or NaN
        }
        if (exponent != 0) {
            return Float.intBitsToFloat(sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13));
        }
        // zero or subnormal: mantissa * 2^-24, exact in float32
        float magnitude = mantissa * 0x1p-24f;
        return Float.intBitsToFloat(sign | Float.floatToRawIntBits(magnitude));
    }

    /** A bfloat16 value (the upper 16 bits of a float32) as float32, exactly. */
    static float bfloat16ToFloat(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xffff) << 16);
    }

    /** The values as int64; only for integer types. */
    public long[] toLongs() {
        int n = Math.toIntExact(elements());
        long[] out = new long[n];
        ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case I64 -> b.asLongBuffer().get(out);
            case I32 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = b.getInt(i * 4);
                }
            }
            case I16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = b.getShort(i * 2);
                }
            }
            case I8 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = b.get(i);
                }
            }
            case U8 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = b.get(i) & 0xff;
                }
            }
            default -> throw new IllegalStateException(name + " is " + dtype + ", not an integer tensor");
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tensor t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && data.equals(t.data);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + ":" + dtype + Arrays.toString(shape);
    }
}
