/*
 * trainer/data/idx.c - IDX files (MNIST, Fashion-MNIST), raw or gzipped.
 *
 * IDX: a big-endian u32 magic (0x00000803 for u8 images of n x h x w,
 * 0x00000801 for u8 labels of n), the dimensions as big-endian u32, then the
 * bytes in row-major order. zlib's gz* functions read gzipped and plain files
 * alike, so one code path serves both. Every count read from a file is checked
 * before it sizes an allocation, and a short read is reported as truncation
 * with the byte counts, because a half-downloaded file is the usual cause.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "trainer/data/dataset.h"

#define IDX_MAGIC_U8_IMAGES 0x00000803u
#define IDX_MAGIC_U8_LABELS 0x00000801u
/* No IDX image set we read comes near this; it stops a corrupt header from
 * asking for a huge allocation. */
#define IDX_MAX_BYTES ((int64_t)1 << 32)

static uint32_t be32(const unsigned char b[4]) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads exactly len bytes or fails naming the file and how much was there. */
static int read_exact(gzFile f, const char *path, void *buf, int64_t len, int64_t offset,
                      nas_err *err) {
    unsigned char *p = buf;
    int64_t done = 0;
    while (done < len) {
        unsigned chunk = (unsigned)((len - done) > (1 << 30) ? (1 << 30) : (len - done));
        int got = gzread(f, p + done, chunk);
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(f, &zerr);
            return nas_err_set(err, NAS_EIO, "%s: read failed: %s (is the gzip stream corrupt?)",
                               path, msg ? msg : "unknown zlib error");
        }
        if (got == 0)
            return nas_err_set(err, NAS_EIO,
                               "%s: truncated: expected %lld bytes of data but the file ends "
                               "after %lld; download it again",
                               path, (long long)(offset + len), (long long)(offset + done));
        done += got;
    }
    return 0;
}

/* Opens path and checks magic; reads ndims big-endian dimensions into dims. */
static int open_idx(const char *path, uint32_t magic, int ndims, uint32_t *dims, gzFile *out,
                    nas_err *err) {
    *out = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return nas_err_set(err, errno == ENOENT ? NAS_ENOTFOUND : NAS_EIO, "%s: cannot open: %s",
                           path, errno ? strerror(errno) : "zlib could not allocate");
    gzbuffer(f, 1 << 17);
    unsigned char head[4 + 4 * 3];
    int head_len = 4 + 4 * ndims;
    int rc = read_exact(f, path, head, head_len, 0, err);
    if (rc) {
        gzclose(f);
        return rc;
    }
    uint32_t found = be32(head);
    if (found != magic) {
        gzclose(f);
        return nas_err_set(err, NAS_EPARSE,
                           "%s: wrong magic number 0x%08x, expected 0x%08x (%s); is this the "
                           "right IDX file?",
                           path, found, magic,
                           magic == IDX_MAGIC_U8_IMAGES ? "u8 images, 3 dimensions" : "u8 labels");
    }
    for (int i = 0; i < ndims; i++) dims[i] = be32(head + 4 + 4 * i);
    *out = f;
    return 0;
}

/* Fails if the stream has bytes past the data: the header then does not
 * describe the file, so the pixels would be misread. */
static int expect_end(gzFile f, const char *path, int64_t expected, nas_err *err) {
    unsigned char extra;
    int got = gzread(f, &extra, 1);
    if (got > 0)
        return nas_err_set(err, NAS_EPARSE,
                           "%s: size mismatch: the header describes %lld bytes but the file is "
                           "longer",
                           path, (long long)expected);
    return 0;
}

int nas_dataset_load_idx(const char *images_path, const char *labels_path, int classes,
                         const char *name, nas_dataset **out, nas_err *err) {
    *out = NULL;
    if (classes < 2 || classes > 256)
        return nas_err_set(err, NAS_EINVAL, "IDX data: classes must be in [2, 256], got %d",
                           classes);
    uint32_t idims[3], ldims[1];
    gzFile fi = NULL, fl = NULL;
    nas_dataset *ds = NULL;
    int rc = open_idx(images_path, IDX_MAGIC_U8_IMAGES, 3, idims, &fi, err);
    if (rc) goto done;
    rc = open_idx(labels_path, IDX_MAGIC_U8_LABELS, 1, ldims, &fl, err);
    if (rc) goto done;
    if (idims[0] != ldims[0]) {
        rc = nas_err_set(err, NAS_EPARSE,
                         "size mismatch: %s holds %u images but %s holds %u labels", images_path,
                         idims[0], labels_path, ldims[0]);
        goto done;
    }
    int64_t image_bytes = (int64_t)idims[1] * idims[2];
    if (idims[0] == 0 || idims[0] > INT_MAX || idims[1] == 0 || idims[2] == 0 ||
        idims[1] > 4096 || idims[2] > 4096 || image_bytes * idims[0] > IDX_MAX_BYTES) {
        rc = nas_err_set(err, NAS_EPARSE,
                         "%s: implausible dimensions %u x %u x %u in the header (corrupt file?)",
                         images_path, idims[0], idims[1], idims[2]);
        goto done;
    }
    rc = nas_dataset_alloc((int)idims[0], 1, (int)idims[1], (int)idims[2], classes, name, &ds, err);
    if (rc) goto done;
    rc = read_exact(fi, images_path, ds->pixels, image_bytes * ds->n, 16, err);
    if (!rc) rc = expect_end(fi, images_path, 16 + image_bytes * ds->n, err);
    if (!rc) rc = read_exact(fl, labels_path, ds->labels, ds->n, 8, err);
    if (!rc) rc = expect_end(fl, labels_path, 8 + (int64_t)ds->n, err);
    if (rc) goto done;
    for (int i = 0; i < ds->n; i++) {
        if (ds->labels[i] >= classes) {
            rc = nas_err_set(err, NAS_ERANGE, "%s: label %d of image %d is out of range [0, %d)",
                             labels_path, ds->labels[i], i, classes);
            goto done;
        }
    }
done:
    if (fi) gzclose(fi);
    if (fl) gzclose(fl);
    if (rc)
        nas_dataset_free(&ds);
    else
        *out = ds;
    return rc;
}

/* Finds dir/<stem><suffix> for the known spellings; writes the path into buf. */
static bool find_idx_file(const char *dir, const char *const *stems, char *buf, size_t cap) {
    static const char *const suffixes[] = {"", ".gz"};
    for (int s = 0; stems[s]; s++) {
        for (int x = 0; x < 2; x++) {
            int n = snprintf(buf, cap, "%s/%s%s", dir, stems[s], suffixes[x]);
            if (n < 0 || (size_t)n >= cap) continue;
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) return true;
        }
    }
    return false;
}

int nas_dataset_load_idx_dir(const char *dir, bool train, const char *name, nas_dataset **out,
                             nas_err *err) {
    *out = NULL;
    static const char *const train_images[] = {"train-images-idx3-ubyte", "train-images.idx3-ubyte",
                                               NULL};
    static const char *const train_labels[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte",
                                               NULL};
    static const char *const test_images[] = {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte",
                                              NULL};
    static const char *const test_labels[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte",
                                              NULL};
    size_t cap = strlen(dir) + 64;
    char *images = malloc(cap), *labels = malloc(cap);
    int rc = 0;
    if (!images || !labels) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory building IDX paths");
    } else if (!find_idx_file(dir, train ? train_images : test_images, images, cap)) {
        rc = nas_err_set(err, NAS_ENOTFOUND, "%s: no %s[.gz] in this folder", dir,
                         train ? train_images[0] : test_images[0]);
    } else if (!find_idx_file(dir, train ? train_labels : test_labels, labels, cap)) {
        rc = nas_err_set(err, NAS_ENOTFOUND, "%s: no %s[.gz] in this folder", dir,
                         train ? train_labels[0] : test_labels[0]);
    } else {
        rc = nas_dataset_load_idx(images, labels, 10, name, out, err);
    }
    free(images);
    free(labels);
    return rc;
}
