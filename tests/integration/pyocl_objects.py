#!/usr/bin/python3
"""pyocl_objects.py - pyopencl with maps, images, events and callbacks.

Usage: pyocl_objects.py

Maps buffers for reading and writing, round-trips a 2D image through a
kernel that samples it, waits on events (user events included) and
registers event callbacks, and checks every result against numpy. Prints
a deterministic transcript (digests, status names, callback order) so a
native run and a run through ava can be compared line for line.

Exit status: 0 all checks held, 1 a check failed, 77 pyopencl is not
importable, 99 no OpenCL device.
"""
import hashlib
import sys
import threading

try:
    import numpy as np
    import pyopencl as cl
except ImportError as e:  # the only reason to skip
    print(f"skip: pyopencl/numpy not importable: {e}", file=sys.stderr)
    sys.exit(77)

failures = 0

SRC = """
__kernel void twice(__global int *x) { x[get_global_id(0)] *= 2; }
__constant sampler_t smp = CLK_NORMALIZED_COORDS_FALSE |
                           CLK_ADDRESS_CLAMP_TO_EDGE | CLK_FILTER_NEAREST;
__kernel void brighten(__read_only image2d_t src, __write_only image2d_t dst)
{
    int2 p = (int2)(get_global_id(0), get_global_id(1));
    uint4 v = read_imageui(src, smp, p);
    write_imageui(dst, p, v + (uint4)(1, 2, 3, 0));
}
"""


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def check(what, ok):
    global failures
    print(f"check {what}: {'ok' if ok else 'FAILED'}")
    if not ok:
        failures += 1


def maps(ctx, q, prg):
    n = 4096
    host = np.arange(n, dtype=np.int32)
    buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                    hostbuf=host)
    mapped, ev = cl.enqueue_map_buffer(q, buf, cl.map_flags.READ, 0, (n,),
                                       np.int32)
    ev.wait()
    check("map for reading sees the initial data", np.array_equal(mapped, host))
    del mapped
    prg.twice(q, (n,), None, buf)
    mapped, ev = cl.enqueue_map_buffer(q, buf, cl.map_flags.READ |
                                       cl.map_flags.WRITE, 0, (n,), np.int32)
    ev.wait()
    check("map after a kernel sees its result", np.array_equal(mapped, host * 2))
    mapped[:16] = -1
    mapped.base.release(q)
    out = np.empty_like(host)
    cl.enqueue_copy(q, out, buf).wait()
    want = host * 2
    want[:16] = -1
    check("writes through a map reach the buffer", np.array_equal(out, want))
    print("map digest:", digest(out))


def images(ctx, q, prg):
    h, w = 16, 24
    src = (np.arange(h * w * 4, dtype=np.uint32) % 200).astype(np.uint8)
    src = src.reshape(h, w, 4)
    fmt = cl.ImageFormat(cl.channel_order.RGBA, cl.channel_type.UNSIGNED_INT8)
    mf = cl.mem_flags
    a = cl.Image(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, fmt, shape=(w, h),
                 hostbuf=src)
    b = cl.Image(ctx, mf.WRITE_ONLY, fmt, shape=(w, h))
    prg.brighten(q, (w, h), None, a, b)
    out = np.empty_like(src)
    cl.enqueue_copy(q, out, b, origin=(0, 0), region=(w, h)).wait()
    want = src.astype(np.uint32)
    want[..., 0] += 1
    want[..., 1] += 2
    want[..., 2] += 3
    check("image kernel matches numpy", np.array_equal(out, want.astype(np.uint8)))
    print("image digest:", digest(out))
    print("image size:", a.get_image_info(cl.image_info.WIDTH),
          a.get_image_info(cl.image_info.HEIGHT))


def events(ctx, q, prg):
    n = 1024
    host = np.ones(n, dtype=np.int32)
    buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, host.nbytes)
    gate = cl.UserEvent(ctx)
    write = cl.enqueue_copy(q, buf, host, is_blocking=False, wait_for=[gate])
    seen = []
    done = threading.Event()

    def on_complete(status):
        seen.append(status)
        done.set()

    write.set_callback(cl.command_execution_status.COMPLETE, on_complete)
    print("user event status before:",
          gate.get_info(cl.event_info.COMMAND_EXECUTION_STATUS))
    gate.set_status(cl.command_execution_status.COMPLETE)
    write.wait()
    check("callback ran", done.wait(10))
    print("callback statuses:", seen)
    run = prg.twice(q, (n,), None, buf)
    run.wait()
    print("kernel event status:",
          run.get_info(cl.event_info.COMMAND_EXECUTION_STATUS))
    print("kernel command type:", run.get_info(cl.event_info.COMMAND_TYPE))
    out = np.empty_like(host)
    cl.enqueue_copy(q, out, buf).wait()
    check("events ordered the write before the kernel",
          np.array_equal(out, host * 2))


def main():
    try:
        dev = cl.get_platforms()[0].get_devices()[0]
    except (cl.Error, IndexError) as e:
        print(f"no OpenCL device: {e}", file=sys.stderr)
        return 99
    ctx = cl.Context([dev])
    q = cl.CommandQueue(ctx)
    prg = cl.Program(ctx, SRC).build()
    maps(ctx, q, prg)
    images(ctx, q, prg)
    events(ctx, q, prg)
    q.finish()
    print("failures:", failures)
    return 1 if failures else 0


sys.exit(main())
