/*
 * trainer/data/cifar.c - CIFAR-10 binary batches.
 *
 * The binary version of CIFAR-10 is a set of files of 10000 records each;
 * a record is one label byte (0..9) then 3072 pixel bytes: the 1024 red, then
 * the 1024 green, then the 1024 blue values of a 32x32 image, row-major. That
 * is already our planar CHW layout, so records are copied as they are. The
 * file size must be a whole number of records: anything else means a wrong or
 * truncated file, and we say which.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/data/dataset.h"

#define CIFAR_SIDE 32
#define CIFAR_CHANNELS 3
#define CIFAR_IMAGE_BYTES (CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD_BYTES (1 + CIFAR_IMAGE_BYTES)
#define CIFAR_CLASSES 10
#define CIFAR_TRAIN_FILES 5

/* Size of a regular file in records, or a negative code. */
static int count_records(const char *path, int *records, nas_err *err) {
    struct stat st;
    if (stat(path, &st) != 0)
        return nas_err_set(err, errno == ENOENT ? NAS_ENOTFOUND : NAS_EIO, "%s: cannot open: %s",
                           path, strerror(errno));
    if (st.st_size == 0 || st.st_size % CIFAR_RECORD_BYTES != 0)
        return nas_err_set(err, NAS_EPARSE,
                           "%s: size %lld is not a whole number of %d-byte CIFAR-10 records "
                           "(truncated, or not the binary version of CIFAR-10?)",
                           path, (long long)st.st_size, CIFAR_RECORD_BYTES);
    if (st.st_size / CIFAR_RECORD_BYTES > 1000000)
        return nas_err_set(err, NAS_EPARSE, "%s: too large for a CIFAR-10 batch file", path);
    *records = (int)(st.st_size / CIFAR_RECORD_BYTES);
    return 0;
}

/* Appends the records of one file to ds starting at image `first`. */
static int read_records(const char *path, nas_dataset *ds, int first, int records, nas_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return nas_err_set(err, NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char record[CIFAR_RECORD_BYTES];
    int rc = 0;
    for (int r = 0; r < records; r++) {
        if (fread(record, 1, sizeof record, f) != sizeof record) {
            rc = nas_err_set(err, NAS_EIO, "%s: truncated at record %d of %d", path, r, records);
            break;
        }
        if (record[0] >= CIFAR_CLASSES) {
            rc = nas_err_set(err, NAS_ERANGE,
                             "%s: label %d of record %d is out of range [0, %d) (CIFAR-100 files "
                             "have two label bytes and are not supported)",
                             path, record[0], r, CIFAR_CLASSES);
            break;
        }
        ds->labels[first + r] = record[0];
        memcpy(ds->pixels + (int64_t)(first + r) * CIFAR_IMAGE_BYTES, record + 1,
               CIFAR_IMAGE_BYTES);
    }
    fclose(f);
    return rc;
}

int nas_dataset_load_cifar(const char *dir, bool train, nas_dataset **out, nas_err *err) {
    *out = NULL;
    size_t cap = strlen(dir) + 32;
    char *paths[CIFAR_TRAIN_FILES] = {0};
    int records[CIFAR_TRAIN_FILES] = {0};
    int n_files = 0, total = 0, rc = 0;
    nas_dataset *ds = NULL;
    int wanted = train ? CIFAR_TRAIN_FILES : 1;
    for (int i = 0; i < wanted; i++) {
        char *path = malloc(cap);
        if (!path) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
            goto done;
        }
        if (train)
            snprintf(path, cap, "%s/data_batch_%d.bin", dir, i + 1);
        else
            snprintf(path, cap, "%s/test_batch.bin", dir);
        int n = 0;
        rc = count_records(path, &n, err);
        if (rc == NAS_ENOTFOUND && train && i > 0) { /* fewer than 5 training batches is fine */
            free(path);
            rc = 0;
            continue;
        }
        if (rc) {
            free(path);
            if (rc == NAS_ENOTFOUND)
                nas_err_prefix(err, "CIFAR-10 folder %s must hold %s", dir,
                               train ? "data_batch_1.bin .. data_batch_5.bin" : "test_batch.bin");
            goto done;
        }
        paths[n_files] = path;
        records[n_files++] = n;
        total += n;
    }
    rc = nas_dataset_alloc(total, CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE, CIFAR_CLASSES,
                           train ? "cifar10/train" : "cifar10/test", &ds, err);
    if (rc) goto done;
    for (int i = 0, first = 0; i < n_files && !rc; first += records[i], i++)
        rc = read_records(paths[i], ds, first, records[i], err);
done:
    for (int i = 0; i < n_files; i++) free(paths[i]);
    if (rc)
        nas_dataset_free(&ds);
    else
        *out = ds;
    return rc;
}
