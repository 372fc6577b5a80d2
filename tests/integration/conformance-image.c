/*
 * conformance-image.c - images and samplers for the conformance-style
 * suite (see conformance.h): every image type, the transfers with host
 * pitches, fills and copies, mapping (into the application's memory for
 * USE_HOST_PTR), and a sampler used by a kernel.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

static const cl_image_format rgba8 = { CL_RGBA, CL_UNORM_INT8 };

static void
pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 29u + seed);
}

static void
report(const char *what, const void *got, const void *want, size_t n)
{
	printf("%s digest %016" PRIx64 "\n", what, itest_digest(got, n));
	itest_check(what, memcmp(got, want, n) == 0);
}

static cl_mem
image(struct env *e, const char *what, cl_mem_flags flags,
      const cl_image_format *f, const cl_image_desc *d, void *host)
{
	cl_int err;
	cl_mem m = clCreateImage(e->ctx, flags, f, d, host, &err);
	itest_status(what, err);
	return m;
}

static void
image_info(const char *what, cl_mem m, cl_image_info name)
{
	size_t v = 0;
	cl_int err = clGetImageInfo(m, name, sizeof(v), &v, NULL);
	print_u64(what, err, v);
}

static void
formats(struct env *e)
{
	cl_uint n = 0;
	cl_int err = clGetSupportedImageFormats(e->ctx, CL_MEM_READ_WRITE,
						CL_MEM_OBJECT_IMAGE2D, 0, NULL,
						&n);
	print_u64("clGetSupportedImageFormats(count)", err, n);
	cl_image_format *f = calloc(n ? n : 1, sizeof(*f));
	if (f == NULL)
		exit(99);
	err = clGetSupportedImageFormats(e->ctx, CL_MEM_READ_WRITE,
					 CL_MEM_OBJECT_IMAGE2D, n, f, NULL);
	printf("formats: %s digest %016" PRIx64 "\n", itest_err_name(err),
	       itest_digest(f, n * sizeof(*f)));
	err = clGetSupportedImageFormats(e->ctx, CL_MEM_READ_WRITE, 0x4242, n,
					 f, NULL);
	itest_status("clGetSupportedImageFormats(bad type)", err);
	free(f);
}

/* A 2D RGBA8 image: info, transfers with pitches, fill, copies, maps. */
static void
image2d(struct env *e)
{
	enum { W = 16, H = 8 };
	unsigned char host[W * H * 4], got[W * H * 4], want[W * H * 4];
	pattern(host, sizeof(host), 3);
	cl_image_desc d = { .image_type = CL_MEM_OBJECT_IMAGE2D,
			    .image_width = W, .image_height = H };
	cl_mem a = image(e, "clCreateImage(2D, COPY_HOST_PTR)",
			 CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, &rgba8, &d,
			 host);
	cl_mem b = image(e, "clCreateImage(2D)", CL_MEM_READ_WRITE, &rgba8, &d,
			 NULL);
	if (a == NULL || b == NULL)
		exit(99);
	image_info("CL_IMAGE_ELEMENT_SIZE", a, CL_IMAGE_ELEMENT_SIZE);
	image_info("CL_IMAGE_WIDTH", a, CL_IMAGE_WIDTH);
	image_info("CL_IMAGE_HEIGHT", a, CL_IMAGE_HEIGHT);
	image_info("CL_IMAGE_DEPTH", a, CL_IMAGE_DEPTH);
	image_info("CL_IMAGE_ARRAY_SIZE", a, CL_IMAGE_ARRAY_SIZE);
	image_info("CL_IMAGE_ROW_PITCH", a, CL_IMAGE_ROW_PITCH);
	cl_image_format f = { 0, 0 };
	cl_int err = clGetImageInfo(a, CL_IMAGE_FORMAT, sizeof(f), &f, NULL);
	printf("CL_IMAGE_FORMAT: %s %#x %#x\n", itest_err_name(err),
	       f.image_channel_order, f.image_channel_data_type);
	size_t o[3] = { 0, 0, 0 }, all[3] = { W, H, 1 };
	itest_status("clEnqueueReadImage(all)",
		     clEnqueueReadImage(e->q, a, CL_TRUE, o, all, 0, 0, got, 0,
					NULL, NULL));
	report("read image", got, host, sizeof(host));
	/* A 5 x 3 region at (2, 4) into host rows 28 bytes apart. */
	size_t ro[3] = { 2, 4, 0 }, r[3] = { 5, 3, 1 };
	unsigned char box[28 * 3];
	memset(box, 0xcd, sizeof(box));
	memcpy(want, box, sizeof(box));
	itest_status("clEnqueueReadImage(region, row pitch 28)",
		     clEnqueueReadImage(e->q, a, CL_TRUE, ro, r, 28, 0, box, 0,
					NULL, NULL));
	for (size_t y = 0; y < 3; y++)
		memcpy(want + y * 28, host + ((4 + y) * W + 2) * 4, 20);
	report("read image region", box, want, sizeof(box));
	/* Host pitches the specification refuses (a row pitch shorter than
	 * a row, a slice pitch for a 2D image) are not called: ava refuses
	 * them as it says, PoCL 3.1 does not (doc/opencl-coverage.md). */
	itest_status("clEnqueueReadImage(past the edge)",
		     clEnqueueReadImage(e->q, a, CL_TRUE, ro, all, 0, 0, got, 0,
					NULL, NULL));
	memset(box, 0x11, sizeof(box));
	itest_status("clEnqueueWriteImage(region, row pitch 28)",
		     clEnqueueWriteImage(e->q, a, CL_TRUE, ro, r, 28, 0, box, 0,
					 NULL, NULL));
	for (size_t y = 0; y < 3; y++)
		memset(host + ((4 + y) * W + 2) * 4, 0x11, 20);
	clEnqueueReadImage(e->q, a, CL_TRUE, o, all, 0, 0, got, 0, NULL, NULL);
	report("write image region", got, host, sizeof(host));

	cl_float color[4] = { 1.0f, 0.0f, 0.5f, 1.0f };
	itest_status("clEnqueueFillImage",
		     clEnqueueFillImage(e->q, b, color, o, all, 0, NULL, NULL));
	clEnqueueReadImage(e->q, b, CL_TRUE, o, all, 0, 0, got, 0, NULL, NULL);
	printf("filled image digest %016" PRIx64 "\n",
	       itest_digest(got, sizeof(got)));
	itest_status("clEnqueueCopyImage",
		     clEnqueueCopyImage(e->q, a, b, ro, o, r, 0, NULL, NULL));
	cl_mem buf = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, sizeof(host),
				    NULL, &err);
	itest_status("clEnqueueCopyImageToBuffer",
		     clEnqueueCopyImageToBuffer(e->q, a, buf, o, all, 0, 0,
						NULL, NULL));
	itest_status("clEnqueueCopyBufferToImage",
		     clEnqueueCopyBufferToImage(e->q, buf, b, 0, o, all, 0,
						NULL, NULL));
	clEnqueueReadImage(e->q, b, CL_TRUE, o, all, 0, 0, got, 0, NULL, NULL);
	report("image -> buffer -> image", got, host, sizeof(host));
	itest_status("clEnqueueCopyImage(overlap)",
		     clEnqueueCopyImage(e->q, a, a, o, o, r, 0, NULL, NULL));

	size_t rp = 0, sp = 7;
	unsigned char *p = clEnqueueMapImage(e->q, a, CL_TRUE, CL_MAP_READ, ro,
					     r, &rp, &sp, 0, NULL, NULL, &err);
	itest_status("clEnqueueMapImage(READ)", err);
	print_u64("mapped slice pitch (2D)", err, sp);
	if (p != NULL) {
		for (size_t y = 0; y < 3; y++)
			memcpy(box + y * 20, p + y * rp, 20);
		for (size_t y = 0; y < 3; y++)
			memcpy(want + y * 20, host + ((4 + y) * W + 2) * 4, 20);
		report("mapped image region", box, want, 60);
		itest_status("clEnqueueUnmapMemObject(image)",
			     clEnqueueUnmapMemObject(e->q, a, p, 0, NULL, NULL));
	}
	p = clEnqueueMapImage(e->q, a, CL_TRUE, CL_MAP_WRITE, ro, r, &rp, NULL,
			      0, NULL, NULL, &err);
	itest_status("clEnqueueMapImage(WRITE)", err);
	if (p != NULL) {
		for (size_t y = 0; y < 3; y++) {
			memset(p + y * rp, 0x99 + (int)y, 20);
			memset(host + ((4 + y) * W + 2) * 4, 0x99 + (int)y, 20);
		}
		itest_status("clEnqueueUnmapMemObject(image, written)",
			     clEnqueueUnmapMemObject(e->q, a, p, 0, NULL, NULL));
	}
	clEnqueueReadImage(e->q, a, CL_TRUE, o, all, 0, 0, got, 0, NULL, NULL);
	report("after mapped image write", got, host, sizeof(host));
	clEnqueueMapImage(e->q, a, CL_TRUE, CL_MAP_READ, ro, r, NULL, NULL, 0,
			  NULL, NULL, &err);
	itest_status("clEnqueueMapImage(NULL row pitch)", err);
	clReleaseMemObject(buf);
	clReleaseMemObject(a);
	clReleaseMemObject(b);
}

/* A 3D image over the application's memory, with padded pitches. */
static void
image3d_host(struct env *e)
{
	/* PoCL wants a slice pitch that is a multiple of the row pitch. */
	enum { W = 8, H = 4, D = 3, RP = W * 4 + 16, SP = RP * (H + 1) };
	static unsigned char mine[SP * D];
	unsigned char got[W * H * D * 4], want[W * H * D * 4];
	pattern(mine, sizeof(mine), 17);
	cl_image_desc d = { .image_type = CL_MEM_OBJECT_IMAGE3D,
		.image_width = W, .image_height = H, .image_depth = D,
		.image_row_pitch = RP, .image_slice_pitch = SP };
	cl_mem m = image(e, "clCreateImage(3D, USE_HOST_PTR, pitches)",
			 CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, &rgba8, &d,
			 mine);
	if (m == NULL)
		return;
	image_info("CL_IMAGE_ROW_PITCH(3D)", m, CL_IMAGE_ROW_PITCH);
	image_info("CL_IMAGE_SLICE_PITCH(3D)", m, CL_IMAGE_SLICE_PITCH);
	size_t o[3] = { 0, 0, 0 }, all[3] = { W, H, D };
	itest_status("clEnqueueReadImage(3D)",
		     clEnqueueReadImage(e->q, m, CL_TRUE, o, all, 0, 0, got, 0,
					NULL, NULL));
	for (size_t z = 0; z < D; z++)
		for (size_t y = 0; y < H; y++)
			memcpy(want + ((z * H + y) * W) * 4,
			       mine + z * SP + y * RP, W * 4);
	report("read 3D image", got, want, sizeof(got));
	size_t mo[3] = { 1, 1, 1 }, r[3] = { 3, 2, 2 }, rp = 0, sp = 0;
	cl_int err;
	unsigned char *p = clEnqueueMapImage(e->q, m, CL_TRUE,
					     CL_MAP_READ | CL_MAP_WRITE, mo, r,
					     &rp, &sp, 0, NULL, NULL, &err);
	itest_status("clEnqueueMapImage(3D, USE_HOST_PTR)", err);
	print_same("mapped pointer (3D use)", err, p, mine + SP + RP + 4);
	printf("mapped pitches: %zu %zu\n", rp, sp);
	if (p != NULL) {
		p[0] = 0xee;
		itest_status("clEnqueueUnmapMemObject(3D)",
			     clEnqueueUnmapMemObject(e->q, m, p, 0, NULL, NULL));
	}
	itest_status("clEnqueueReadImage(3D, after map)",
		     clEnqueueReadImage(e->q, m, CL_TRUE, mo, r, 0, 0, got, 0,
					NULL, NULL));
	print_u64("first mapped byte", CL_SUCCESS, got[0]);
	clReleaseMemObject(m);
}

/* Arrays and images from buffers: create, read back with pitches. */
static void
image_kinds(struct env *e)
{
	unsigned char host[4 * 6 * 3 * 4], got[sizeof(host)];
	pattern(host, sizeof(host), 23);
	cl_image_desc a1 = { .image_type = CL_MEM_OBJECT_IMAGE1D_ARRAY,
			     .image_width = 6, .image_array_size = 3 };
	cl_mem m = image(e, "clCreateImage(1D array)", CL_MEM_COPY_HOST_PTR,
			 &rgba8, &a1, host);
	size_t o[3] = { 0, 0, 0 }, r1[3] = { 6, 3, 1 };
	if (m != NULL) {
		/* Default pitches: which pitch separates the images of a 1D
		 * array is where PoCL 3.1 and the specification disagree. */
		itest_status("clEnqueueReadImage(1D array)",
			     clEnqueueReadImage(e->q, m, CL_TRUE, o, r1, 0, 0,
						got, 0, NULL, NULL));
		report("1D array", got, host, 6 * 3 * 4);
		clReleaseMemObject(m);
	}
	cl_image_desc a2 = { .image_type = CL_MEM_OBJECT_IMAGE2D_ARRAY,
		.image_width = 4, .image_height = 6, .image_array_size = 3 };
	m = image(e, "clCreateImage(2D array)", CL_MEM_COPY_HOST_PTR, &rgba8,
		  &a2, host);
	size_t r2[3] = { 4, 6, 3 };
	if (m != NULL) {
		itest_status("clEnqueueReadImage(2D array)",
			     clEnqueueReadImage(e->q, m, CL_TRUE, o, r2, 0, 0,
						got, 0, NULL, NULL));
		report("2D array", got, host, sizeof(host));
		image_info("CL_IMAGE_ARRAY_SIZE(2D array)", m,
			   CL_IMAGE_ARRAY_SIZE);
		clReleaseMemObject(m);
	}
	cl_int err;
	cl_mem buf = clCreateBuffer(e->ctx, CL_MEM_COPY_HOST_PTR, 64 * 4, host,
				    &err);
	cl_image_desc b1 = { .image_type = CL_MEM_OBJECT_IMAGE1D_BUFFER,
			     .image_width = 64, .buffer = buf };
	m = image(e, "clCreateImage(1D buffer)", CL_MEM_READ_WRITE, &rgba8,
		  &b1, NULL);
	if (m != NULL) {
		cl_mem back = NULL;
		err = clGetImageInfo(m, CL_IMAGE_BUFFER, sizeof(back), &back,
				     NULL);
		print_same("CL_IMAGE_BUFFER", err, back, buf);
		size_t r[3] = { 64, 1, 1 };
		itest_status("clEnqueueReadImage(1D buffer)",
			     clEnqueueReadImage(e->q, m, CL_TRUE, o, r, 0, 0,
						got, 0, NULL, NULL));
		report("1D buffer image", got, host, 64 * 4);
		clReleaseMemObject(m);
	}
	clReleaseMemObject(buf);
}

static void
image_creation(struct env *e)
{
	unsigned char host[8 * 8 * 4];
	pattern(host, sizeof(host), 5);
	cl_int err;
	cl_mem m = clCreateImage2D(e->ctx, CL_MEM_COPY_HOST_PTR, &rgba8, 8, 8,
				   0, host, &err);
	itest_status("clCreateImage2D", err);
	if (m != NULL)
		clReleaseMemObject(m);
	m = clCreateImage3D(e->ctx, CL_MEM_READ_ONLY, &rgba8, 4, 4, 2, 0, 0,
			    NULL, &err);
	itest_status("clCreateImage3D", err);
	if (m != NULL)
		clReleaseMemObject(m);
	cl_image_desc d = { .image_type = CL_MEM_OBJECT_IMAGE2D,
			    .image_width = 8, .image_height = 8 };
	m = clCreateImageWithProperties(e->ctx, NULL, CL_MEM_READ_WRITE, &rgba8,
					&d, NULL, &err);
	itest_status("clCreateImageWithProperties", err);
	if (m != NULL)
		clReleaseMemObject(m);
	cl_image_format bad = { 0x4242, CL_UNORM_INT8 };
	image(e, "clCreateImage(bad format)", CL_MEM_READ_WRITE, &bad, &d,
	      NULL);
	image(e, "clCreateImage(NULL desc)", CL_MEM_READ_WRITE, &rgba8, NULL,
	      NULL);
	cl_image_desc zero = d;
	zero.image_width = 0;
	image(e, "clCreateImage(width 0)", CL_MEM_READ_WRITE, &rgba8, &zero,
	      NULL);
	image(e, "clCreateImage(USE_HOST_PTR, NULL)", CL_MEM_USE_HOST_PTR,
	      &rgba8, &d, NULL);
	cl_image_desc small = d;
	small.image_row_pitch = 8;
	image(e, "clCreateImage(row pitch too small)", CL_MEM_COPY_HOST_PTR,
	      &rgba8, &small, host);
}

void
conformance_images(struct env *e)
{
	formats(e);
	image2d(e);
	image3d_host(e);
	image_kinds(e);
	image_creation(e);
}

void
conformance_samplers(struct env *e)
{
	cl_int err;
	cl_sampler s = clCreateSampler(e->ctx, CL_FALSE, CL_ADDRESS_CLAMP_TO_EDGE,
				       CL_FILTER_NEAREST, &err);
	itest_status("clCreateSampler", err);
	cl_sampler_properties props[] = {
		CL_SAMPLER_NORMALIZED_COORDS, CL_TRUE,
		CL_SAMPLER_FILTER_MODE, CL_FILTER_LINEAR, 0 };
	cl_sampler s2 = clCreateSamplerWithProperties(e->ctx, props, &err);
	itest_status("clCreateSamplerWithProperties", err);
	cl_sampler_properties bad[] = { 0x4242, 1, 0 };
	clCreateSamplerWithProperties(e->ctx, bad, &err);
	itest_status("clCreateSamplerWithProperties(bad key)", err);
	if (s == NULL || s2 == NULL)
		exit(99);
	cl_uint v = 0;
	err = clGetSamplerInfo(s, CL_SAMPLER_ADDRESSING_MODE, sizeof(v), &v,
			       NULL);
	print_u64("CL_SAMPLER_ADDRESSING_MODE", err, v);
	err = clGetSamplerInfo(s2, CL_SAMPLER_FILTER_MODE, sizeof(v), &v, NULL);
	print_u64("CL_SAMPLER_FILTER_MODE", err, v);
	cl_bool nc = 7;
	err = clGetSamplerInfo(s2, CL_SAMPLER_NORMALIZED_COORDS, sizeof(nc),
			       &nc, NULL);
	print_u64("CL_SAMPLER_NORMALIZED_COORDS", err, nc);
	cl_context c = NULL;
	err = clGetSamplerInfo(s, CL_SAMPLER_CONTEXT, sizeof(c), &c, NULL);
	print_same("CL_SAMPLER_CONTEXT", err, c, e->ctx);
	itest_status("clRetainSampler", clRetainSampler(s));
	itest_status("clReleaseSampler", clReleaseSampler(s));

	/* A kernel reads an image through the sampler. */
	enum { W = 4, H = 2 };
	unsigned char host[W * H * 4];
	for (size_t i = 0; i < sizeof(host); i++)
		host[i] = (unsigned char)(i * 8);
	cl_image_desc d = { .image_type = CL_MEM_OBJECT_IMAGE2D,
			    .image_width = W, .image_height = H };
	cl_mem img = clCreateImage(e->ctx, CL_MEM_COPY_HOST_PTR, &rgba8, &d,
				   host, &err);
	cl_mem out = clCreateBuffer(e->ctx, CL_MEM_WRITE_ONLY,
				    W * H * 4 * sizeof(cl_float), NULL, &err);
	cl_kernel k = clCreateKernel(e->prog, "sample", &err);
	itest_status("clCreateKernel(sample)", err);
	itest_status("clSetKernelArg(image)",
		     clSetKernelArg(k, 0, sizeof(img), &img));
	itest_status("clSetKernelArg(sampler)",
		     clSetKernelArg(k, 1, sizeof(s), &s));
	itest_status("clSetKernelArg(out)", clSetKernelArg(k, 2, sizeof(out),
							   &out));
	size_t gws[2] = { W, H };
	itest_status("clEnqueueNDRangeKernel(sample)",
		     clEnqueueNDRangeKernel(e->q, k, 2, NULL, gws, NULL, 0,
					    NULL, NULL));
	cl_float got[W * H * 4];
	clEnqueueReadBuffer(e->q, out, CL_TRUE, 0, sizeof(got), got, 0, NULL,
			    NULL);
	bool ok = true;
	for (size_t i = 0; i < W * H * 4; i++) {
		float diff = got[i] - host[i] / 255.0f;
		ok &= diff < 1e-6f && diff > -1e-6f;
	}
	printf("sampled digest %016" PRIx64 "\n", itest_digest(got,
							       sizeof(got)));
	itest_check("sampled values", ok);
	clReleaseKernel(k);
	clReleaseMemObject(out);
	clReleaseMemObject(img);
	clReleaseSampler(s);
	clReleaseSampler(s2);
}
