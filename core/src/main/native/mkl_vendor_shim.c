/*
 * Preloaded into streamtrain's JVMs (LD_PRELOAD; the `streamtrain` launcher and the image do it)
 * so that the Intel MKL linked into DJL's libtorch takes its AVX2/AVX-512 code paths on AMD CPUs
 * too. MKL asks these two functions whether the CPU is an Intel one and, when it is not, runs
 * generic kernels whatever the CPU supports: on this project's AMD EPYC machines a training
 * step ran 1.7 times slower and float32 matrix products at half speed (docs/benchmarks.md).
 * The AVX2/AVX-512 kernels are only chosen where the CPU reports those instructions, so
 * answering "Intel" changes which supported kernels run, never whether they are supported.
 * On Intel CPUs this answers what MKL finds anyway. The other side, measured: a tiny model
 * (a 20-16-10 MLP on batches of 32) pays about 0.3 ms a step more with it, so the tests of tiny
 * models run without it (STREAMTRAIN_MKL_SHIM=off does the same for the launcher); the lab's,
 * which train the reference results' larger models as the launcher does, preload it.
 *
 * No libc: built with -nostdlib, it loads into any glibc the JVM runs on.
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
int mkl_serv_intel_cpu(void) { return 1; }
