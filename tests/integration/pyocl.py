#!/usr/bin/python3
"""pyocl.py - a pyopencl program, checked against numpy.

Usage: pyocl.py CACHE_DIR

Builds kernels (from source, then again from pyopencl's binary cache in
CACHE_DIR), moves buffers both ways, runs kernels with buffer, scalar and
__local arguments, uses pyopencl.array (generated element-wise and
reduction kernels), and provokes errors. Prints a deterministic transcript
(results as digests, errors by name) so that a native run and a run through
ava can be compared line for line.

Exit status: 0 all checks held, 1 a check failed, 77 pyopencl is not
importable, 99 no OpenCL device.
"""
import hashlib
import sys

try:
    import numpy as np
    import pyopencl as cl
    import pyopencl.array as cla
except ImportError as e:  # the only reason to skip
    print(f"skip: pyopencl/numpy not importable: {e}", file=sys.stderr)
    sys.exit(77)

failures = 0

SRC = """
__kernel void vadd(__global const float *a, __global const float *b,
                   __global float *c)
{
    int i = get_global_id(0);
    c[i] = a[i] + b[i];
}
__kernel void scale(__global int *x, const int k)
{
    x[get_global_id(0)] *= k;
}
__kernel void group_sum(__global const int *in, __global int *out,
                        __local int *tmp)
{
    size_t lid = get_local_id(0);
    tmp[lid] = in[get_global_id(0)];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            tmp[lid] += tmp[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        out[get_group_id(0)] = tmp[0];
}
"""


def digest(arr):
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def check(what, ok):
    global failures
    print(f"check {what}: {'ok' if ok else 'FAIL'}")
    if not ok:
        failures += 1


def err_name(e):
    """The status of a pyopencl error, by name ('INVALID_VALUE')."""
    code = e.code if hasattr(e, "code") else e.args[0].code
    return cl.status_code.to_string(code)


def kernels(ctx, queue, cache_dir):
    rng = np.random.default_rng(20240601)
    n = 1 << 16
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    mf = cl.mem_flags
    prg = cl.Program(ctx, SRC).build(cache_dir=cache_dir)
    print("program kernels:", prg.get_info(cl.program_info.KERNEL_NAMES))
    # The same source again: this time from pyopencl's binary cache.
    prg2 = cl.Program(ctx, SRC).build(cache_dir=cache_dir)
    print("rebuilt kernels:", prg2.get_info(cl.program_info.KERNEL_NAMES))

    da = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a)
    db = cl.Buffer(ctx, mf.READ_ONLY, a.nbytes)
    cl.enqueue_copy(queue, db, b, is_blocking=False)
    dc = cl.Buffer(ctx, mf.WRITE_ONLY, a.nbytes)
    prg.vadd(queue, (n,), None, da, db, dc)
    c = np.empty_like(a)
    cl.enqueue_copy(queue, c, dc)
    print("vadd", digest(c))
    check("vadd == numpy", np.array_equal(c, a + b))

    x = np.arange(-1000, 1000, dtype=np.int32)
    dx = cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=x)
    prg2.scale(queue, x.shape, None, dx, np.int32(-3))
    y = np.empty_like(x)
    cl.enqueue_copy(queue, y, dx)
    print("scale", digest(y))
    check("scale == numpy", np.array_equal(y, x * -3))

    local = 64
    v = rng.integers(0, 1000, size=local * 100, dtype=np.int32)
    dv = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=v)
    dout = cl.Buffer(ctx, mf.WRITE_ONLY, 100 * 4)
    prg.group_sum(queue, v.shape, (local,), dv, dout,
                  cl.LocalMemory(local * 4))
    sums = np.empty(100, dtype=np.int32)
    cl.enqueue_copy(queue, sums, dout)
    print("group sums", digest(sums))
    check("group sums == numpy",
          np.array_equal(sums, v.reshape(100, local).sum(axis=1)))

    fill = cl.Buffer(ctx, mf.READ_WRITE, 4096)
    cl.enqueue_fill_buffer(queue, fill, np.uint32(0xdeadbeef), 0, 4096)
    f = np.empty(1024, dtype=np.uint32)
    cl.enqueue_copy(queue, f, fill)
    check("fill", bool((f == 0xdeadbeef).all()))


def arrays(ctx, queue):
    rng = np.random.default_rng(7)
    h = rng.integers(-50, 50, size=10000).astype(np.int64)
    d = cla.to_device(queue, h)
    e = (d * 3 + 5).get()
    print("array affine", digest(e))
    check("array affine == numpy", np.array_equal(e, h * 3 + 5))
    s = int(cla.sum(d).get())
    print("array sum", s)
    check("array sum == numpy", s == int(h.sum()))


def errors(ctx):
    try:
        cl.Program(ctx, "__kernel void f() { nope(); }").build(cache_dir=False)
        check("broken build raises", False)
    except cl.RuntimeError as e:
        print("broken build:", err_name(e))
    try:
        cl.Buffer(ctx, cl.mem_flags.READ_WRITE, 0)
        check("zero-size buffer raises", False)
    except cl.Error as e:
        print("zero-size buffer:", err_name(e))
    prg = cl.Program(ctx, SRC).build(cache_dir=False)
    try:
        cl.Kernel(prg, "no_such_kernel")
        check("bad kernel name raises", False)
    except cl.Error as e:
        print("bad kernel name:", err_name(e))
    k = cl.Kernel(prg, "scale")
    try:
        k.set_arg(7, np.int32(1))
        check("bad arg index raises", False)
    except cl.Error as e:
        print("bad arg index:", err_name(e))
    try:
        k.set_arg(1, np.int64(1))
        check("wrong arg size raises", False)
    except cl.Error as e:
        print("wrong arg size:", err_name(e))


def main():
    if len(sys.argv) != 2:
        print("usage: pyocl.py CACHE_DIR", file=sys.stderr)
        return 99
    platforms = cl.get_platforms()
    if not platforms or not platforms[0].get_devices():
        print("no OpenCL device", file=sys.stderr)
        return 99
    dev = platforms[0].get_devices()[0]
    print("device:", dev.name, "units:", dev.max_compute_units,
          "max wg:", dev.max_work_group_size)
    ctx = cl.Context([dev])
    queue = cl.CommandQueue(ctx)
    kernels(ctx, queue, sys.argv[1])
    arrays(ctx, queue)
    errors(ctx)
    queue.finish()
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
