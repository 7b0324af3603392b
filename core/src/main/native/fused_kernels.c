/*
 * The training step's elementwise work in one pass per parameter (io.streamtrain.core.djl.FusedKernels):
 * libtorch does it as a dozen separate operations, each a pass over memory and most with a
 * temporary the size of the parameter, and a profile of a step put them at a third of its time
 * (docs/benchmarks.md, "Where the step's time went").
 *
 * The arrays are the tensors' own memory (direct buffers over contiguous float32 CPU tensors),
 * read and written in place. Sums accumulate in double, in LANES fixed lanes added up in a fixed
 * order, and the build turns off floating-point contraction: a result depends on the inputs
 * only, not on the CPU's vector width, so checkpoints stay bit-identical across x86-64 machines.
 */
#include <jni.h>
#include <math.h>
#include <stddef.h>

#define LANES 8

/* GCC 12 and later dispatch target_clones on an arch= level (GCC 11 refuses it) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define VECTORIZED __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VECTORIZED
#endif

static float *floats(JNIEnv *env, jobject buffer, jlong from) {
    return buffer == NULL ? NULL : (float *) (*env)->GetDirectBufferAddress(env, buffer) + from;
}

/* Whether every buffer given holds the values [0, to): FusedKernels checks it, this makes sure. */
static int holds(JNIEnv *env, jlong to, jobject a, jobject b, jobject c, jobject d) {
    jobject all[4] = {a, b, c, d};
    for (int k = 0; k < 4; k++) {
        if (all[k] != NULL && (*env)->GetDirectBufferCapacity(env, all[k]) < to * (jlong) sizeof(float)) {
            jclass e = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
            if (e != NULL) {
                (*env)->ThrowNew(env, e, "a buffer is smaller than the values the kernel would touch");
            }
            return 0;
        }
    }
    return 1;
}

/*
 * sums[0] = sum |w|, sums[1] = sum w^2, sums[2] = sum (w - w0)^2 (0 without an anchor),
 * sums[3] = sum g'^2 after g' = g + l1*sign(w) + l2x2*w + l2spx2*(w - w0) is written back to g
 * (g is neither read nor written when NULL; it is only read when every coefficient is 0). A term
 * whose coefficient is 0 is not added at all, as libtorch's path does not: 0 times a non-finite
 * weight would make the gradient NaN.
 */
static inline float penalized(float g, float x, float d, float l1, float l2x2, float l2spx2) {
    if (l1 != 0.0f) {
        g += l1 * (float) ((x > 0.0f) - (x < 0.0f));
    }
    if (l2x2 != 0.0f) {
        g += l2x2 * x;
    }
    if (l2spx2 != 0.0f) {
        g += l2spx2 * d;
    }
    return g;
}

VECTORIZED
static void penalize(const float *w, float *g, const float *w0, size_t n, float l1, float l2x2, float l2spx2,
                     double *sums) {
    double abs[LANES] = {0}, sq[LANES] = {0}, sp[LANES] = {0}, gsq[LANES] = {0};
    int writes = g != NULL && (l1 != 0 || l2x2 != 0 || (w0 != NULL && l2spx2 != 0));
    if (w0 == NULL) {
        l2spx2 = 0.0f;
    }
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            float x = w[i + j];
            float d = w0 != NULL ? x - w0[i + j] : 0.0f;
            abs[j] += fabsf(x);
            sq[j] += (double) x * x;
            sp[j] += (double) d * d;
            if (g != NULL) {
                float gi = writes ? penalized(g[i + j], x, d, l1, l2x2, l2spx2) : g[i + j];
                if (writes) {
                    g[i + j] = gi;
                }
                gsq[j] += (double) gi * gi;
            }
        }
    }
    for (; i < n; i++) {
        float x = w[i];
        float d = w0 != NULL ? x - w0[i] : 0.0f;
        abs[0] += fabsf(x);
        sq[0] += (double) x * x;
        sp[0] += (double) d * d;
        if (g != NULL) {
            float gi = writes ? penalized(g[i], x, d, l1, l2x2, l2spx2) : g[i];
            if (writes) {
                g[i] = gi;
            }
            gsq[0] += (double) gi * gi;
        }
    }
    sums[0] = sums[1] = sums[2] = sums[3] = 0;
    for (int j = 0; j < LANES; j++) {
        sums[0] += abs[j];
        sums[1] += sq[j];
        sums[2] += sp[j];
        sums[3] += gsq[j];
    }
}

/*
 * One Adam step: g' = scale*g + coupled*w; w *= keep; m = b1*m + (1-b1)*g';
 * v = b2*v + (1-b2)*g'^2; w -= stepSize * m / (sqrt(v) + eps). g is only read.
 */
VECTORIZED
static void adam(float *w, const float *g, float *m, float *v, size_t n, float scale, float coupled, float keep,
                 float b1, float b2, float stepSize, float eps) {
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float x = w[i];
        float gi = scale * g[i] + coupled * x;
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = keep * x - stepSize * mi / (sqrtf(vi) + eps);
    }
}

/* values [from, to) of each array */
JNIEXPORT void JNICALL Java_io_streamtrain_core_djl_FusedKernels_penalize(
        JNIEnv *env, jclass cls, jobject w, jobject g, jobject w0, jlong from, jlong to, jfloat l1, jfloat l2x2,
        jfloat l2spx2, jdoubleArray out) {
    double sums[4];
    if (!holds(env, to, w, g, w0, NULL)) {
        return;
    }
    penalize(floats(env, w, from), floats(env, g, from), floats(env, w0, from), (size_t) (to - from), l1, l2x2,
             l2spx2, sums);
    (*env)->SetDoubleArrayRegion(env, out, 0, 4, sums);
}

JNIEXPORT void JNICALL Java_io_streamtrain_core_djl_FusedKernels_adam(
        JNIEnv *env, jclass cls, jobject w, jobject g, jobject m, jobject v, jlong from, jlong to, jfloat scale,
        jfloat coupled, jfloat keep, jfloat b1, jfloat b2, jfloat stepSize, jfloat eps) {
    if (!holds(env, to, w, g, m, v)) {
        return;
    }
    adam(floats(env, w, from), floats(env, g, from), floats(env, m, from), floats(env, v, from), (size_t) (to - from),
         scale, coupled, keep, b1, b2, stepSize, eps);
}
