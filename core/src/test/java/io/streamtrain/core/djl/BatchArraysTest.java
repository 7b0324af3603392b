package io.streamtrain.core.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class BatchArraysTest {
    @Test
    void theEngineReadsADecodedBatchInPlaceAsFloat32() throws Exception {
        ModelSpec model = RunSpecParser.parse("""
                run: arrays
                data: { train: t }
                model: { type: mlp, inputs: 3, hidden: [4], classes: 2 }
                """).model();
        float[] x = {0.5f, -1f, 2f, 3f, 4.25f, -0.125f};
        Batch b = new BatchCodec(model).decode(BatchCodec.encode(x, new long[] {2, 3}, new long[] {1, 0}));
        try (NDManager m = Engines.pytorch().newBaseManager()) {
            NDArray array = BatchArrays.x(m, b);
            assertEquals(DataType.FLOAT32, array.getDataType());
            assertEquals(new Shape(2, 3), array.getShape());
            assertArrayEquals(x, array.toFloatArray());
            // in place: what the batch's buffer holds is what the array holds (no copy was made per step)
            b.x().asFloatBuffer().put(4, 9f);
            assertEquals(9f, array.toFloatArray()[4]);
            assertArrayEquals(new long[] {1, 0}, BatchArrays.y(m, b).toLongArray());
        }
    }

    @Test
    void aBatchHoldsItsFeaturesInADirectNativeBufferOfItsSize() {
        float[] x = {1, 2, 3, 4};
        Batch b = new Batch(2, 2, x, new long[] {0, 1}, null, 1);
        assertArrayEquals(x, b.xValues());
        ByteBuffer heap = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        assertThrows(IllegalArgumentException.class, () -> new Batch(2, 2, heap, new long[] {0, 1}, null, 1));
        assertThrows(
                IllegalArgumentException.class,
                () -> new Batch(2, 3, Batch.nativeFloats(4), new long[] {0, 1}, null, 1),
                "a buffer of another size than samples x features");
    }
}
