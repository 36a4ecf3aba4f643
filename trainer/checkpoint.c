/*
 * trainer/checkpoint.c - safetensors reading and writing, and moving a
 * network's parameters and optimiser state into and out of a checkpoint.
 *
 * The header is built and parsed with cJSON; nothing from the file is trusted
 * before it is checked: the header length against the file size, every
 * tensor's byte range against its dtype and shape and against the data
 * section, and the ranges against each other (no overlap, no gaps), which is
 * what the reference implementation enforces too.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/checkpoint.h"

/* The format's own limit on the header (100 MB); a larger value is corrupt. */
#define CKPT_MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)
#define CKPT_MOMENTUM_PREFIX "momentum."

struct nas_ckpt {
    char *source;           /* file it was loaded from, for messages ("" if built) */
    int n, cap;
    nas_ckpt_tensor *tensors;
    int n_meta, cap_meta;
    char **meta_keys, **meta_values;
};

static bool host_is_little_endian(void) {
    const uint16_t probe = 1;
    return *(const unsigned char *)&probe == 1;
}

nas_ckpt *nas_ckpt_new(void) {
    nas_ckpt *c = calloc(1, sizeof *c);
    if (c && !(c->source = strdup(""))) {
        free(c);
        return NULL;
    }
    return c;
}

void nas_ckpt_free(nas_ckpt **ckpt) {
    if (!ckpt || !*ckpt) return;
    nas_ckpt *c = *ckpt;
    for (int i = 0; i < c->n; i++) {
        free(c->tensors[i].name);
        free(c->tensors[i].data);
    }
    for (int i = 0; i < c->n_meta; i++) {
        free(c->meta_keys[i]);
        free(c->meta_values[i]);
    }
    free(c->tensors);
    free(c->meta_keys);
    free(c->meta_values);
    free(c->source);
    free(c);
    *ckpt = NULL;
}

int nas_ckpt_tensor_count(const nas_ckpt *c) { return c->n; }

const nas_ckpt_tensor *nas_ckpt_tensor_at(const nas_ckpt *c, int index) {
    return index >= 0 && index < c->n ? &c->tensors[index] : NULL;
}

const nas_ckpt_tensor *nas_ckpt_find(const nas_ckpt *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->tensors[i].name, name) == 0) return &c->tensors[i];
    return NULL;
}

const char *nas_ckpt_meta(const nas_ckpt *c, const char *key) {
    for (int i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta_keys[i], key) == 0) return c->meta_values[i];
    return NULL;
}

int nas_ckpt_set_meta(nas_ckpt *c, const char *key, const char *value, nas_err *err) {
    char *v = strdup(value);
    if (!v) return nas_err_set(err, NAS_ENOMEM, "out of memory for checkpoint metadata");
    for (int i = 0; i < c->n_meta; i++) {
        if (strcmp(c->meta_keys[i], key) == 0) {
            free(c->meta_values[i]);
            c->meta_values[i] = v;
            return 0;
        }
    }
    if (c->n_meta == c->cap_meta) {
        int cap = c->cap_meta ? 2 * c->cap_meta : 8;
        char **keys = realloc(c->meta_keys, sizeof *keys * (size_t)cap);
        if (keys) c->meta_keys = keys;
        char **values = keys ? realloc(c->meta_values, sizeof *values * (size_t)cap) : NULL;
        if (!keys || !values) {
            free(v);
            return nas_err_set(err, NAS_ENOMEM, "out of memory for checkpoint metadata");
        }
        c->meta_values = values;
        c->cap_meta = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for checkpoint metadata");
    }
    c->meta_keys[c->n_meta] = k;
    c->meta_values[c->n_meta++] = v;
    return 0;
}

/* Adds a tensor and takes ownership of data (count floats). */
static int add_owned(nas_ckpt *c, const char *name, int ndim, const int64_t *shape, float *data,
                     size_t count, nas_err *err) {
    if (!name[0] || strcmp(name, "__metadata__") == 0) {
        free(data);
        return nas_err_set(err, NAS_EINVAL, "checkpoint tensor name '%s' is reserved or empty", name);
    }
    if (nas_ckpt_find(c, name)) {
        free(data);
        return nas_err_set(err, NAS_EINVAL, "checkpoint tensor '%s' is already present", name);
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        nas_ckpt_tensor *t = realloc(c->tensors, sizeof *t * (size_t)cap);
        if (!t) {
            free(data);
            return nas_err_set(err, NAS_ENOMEM, "out of memory for checkpoint tensors");
        }
        c->tensors = t;
        c->cap = cap;
    }
    nas_ckpt_tensor *t = &c->tensors[c->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        free(data);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for checkpoint tensors");
    }
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->count = count;
    t->data = data;
    c->n++;
    return 0;
}

static size_t shape_count(int ndim, const int64_t *shape) {
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)shape[d];
    return count;
}

int nas_ckpt_add(nas_ckpt *c, const char *name, int ndim, const int64_t *shape,
                 const float *data, nas_err *err) {
    if (ndim < 0 || ndim > NAS_CKPT_MAX_DIMS)
        return nas_err_set(err, NAS_EINVAL, "checkpoint tensor '%s': %d dimensions (max %d)", name,
                           ndim, NAS_CKPT_MAX_DIMS);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return nas_err_set(err, NAS_EINVAL, "checkpoint tensor '%s': negative dimension", name);
    size_t count = shape_count(ndim, shape);
    float *copy = malloc(sizeof(float) * (count ? count : 1));
    if (!copy) return nas_err_set(err, NAS_ENOMEM, "out of memory copying tensor '%s'", name);
    if (count) memcpy(copy, data, sizeof(float) * count);
    return add_owned(c, name, ndim, shape, copy, count, err);
}

/* ---- writing ---- */

static char *build_header(const nas_ckpt *c) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    bool ok = true;
    if (c->n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < c->n_meta; i++)
            ok = cJSON_AddStringToObject(meta, c->meta_keys[i], c->meta_values[i]) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < c->n; i++) {
        const nas_ckpt_tensor *t = &c->tensors[i];
        cJSON *entry = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = entry ? cJSON_AddArrayToObject(entry, "shape") : NULL;
        cJSON *offsets = shape ? cJSON_AddArrayToObject(entry, "data_offsets") : NULL;
        ok = offsets && cJSON_AddStringToObject(entry, "dtype", "F32");
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        uint64_t end = offset + sizeof(float) * t->count;
        ok = ok && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)end));
        offset = end;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

int nas_ckpt_save(const nas_ckpt *c, const char *path, nas_err *err) {
    if (!host_is_little_endian())
        return nas_err_set(err, NAS_EUNSUPPORTED, "safetensors writing needs a little-endian host");
    char *header = build_header(c);
    if (!header) return nas_err_set(err, NAS_ENOMEM, "out of memory building the checkpoint header");
    size_t header_len = strlen(header);
    size_t padded = (header_len + 7) / 8 * 8; /* data starts 8-byte aligned, padding is spaces */
    size_t tmp_cap = strlen(path) + 32;
    char *tmp = malloc(tmp_cap);
    if (!tmp) {
        free(header);
        return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    snprintf(tmp, tmp_cap, "%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = nas_err_set(err, NAS_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    bool ok = fwrite(len_le, 1, 8, f) == 8 && fwrite(header, 1, header_len, f) == header_len;
    for (size_t i = header_len; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < c->n; i++)
        ok = fwrite(c->tensors[i].data, sizeof(float), c->tensors[i].count, f) == c->tensors[i].count;
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        rc = nas_err_set(err, NAS_EIO, "%s: write failed: %s (disk full?)", tmp, strerror(errno));
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = nas_err_set(err, NAS_EIO, "%s: cannot rename the new checkpoint into place: %s", path,
                         strerror(errno));
        remove(tmp);
    }
done:
    free(tmp);
    free(header);
    return rc;
}

/* ---- reading ---- */

typedef enum { DT_F32, DT_F16, DT_BF16, DT_F64 } dtype;

static int parse_dtype(const char *s, dtype *out, int *bytes) {
    static const struct { const char *name; dtype dt; int bytes; } table[] = {
        {"F32", DT_F32, 4}, {"F16", DT_F16, 2}, {"BF16", DT_BF16, 2}, {"F64", DT_F64, 8}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].dt;
            *bytes = table[i].bytes;
            return 0;
        }
    }
    return -1;
}

static float half_to_float(uint16_t h) {
    int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float v;
    if (exponent == 0)
        v = ldexpf((float)mantissa, -24); /* subnormal */
    else if (exponent == 31)
        v = mantissa ? NAN : INFINITY;
    else
        v = ldexpf((float)(mantissa | 0x400), exponent - 25);
    return sign ? -v : v;
}

static void convert(const unsigned char *src, dtype dt, size_t count, float *dst) {
    for (size_t i = 0; i < count; i++) {
        switch (dt) {
        case DT_F32: memcpy(&dst[i], src + 4 * i, 4); break;
        case DT_F64: {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
            break;
        }
        case DT_F16: dst[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8)); break;
        case DT_BF16: {
            uint32_t bits = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
            break;
        }
        }
    }
}

/* A number that is a non-negative integer (JSON has only doubles). */
static bool json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (v < 0 || v > 9007199254740992.0 || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

typedef struct range {
    uint64_t begin, end;
    const char *name;
} range;

static int compare_ranges(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Parses one tensor entry and reads its data from the data section. */
static int load_tensor(nas_ckpt *c, const char *path, const cJSON *entry, const unsigned char *data,
                       uint64_t data_len, range *r, nas_err *err) {
    const char *name = entry->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    dtype type;
    int bytes;
    if (!cJSON_IsObject(entry) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return nas_err_set(err, NAS_EPARSE,
                           "%s: tensor '%s' needs dtype, shape and two data_offsets", path, name);
    if (parse_dtype(dt->valuestring, &type, &bytes) != 0)
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 are read",
                           path, name, dt->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > NAS_CKPT_MAX_DIMS)
        return nas_err_set(err, NAS_EUNSUPPORTED, "%s: tensor '%s' has %d dimensions (max %d)",
                           path, name, ndim, NAS_CKPT_MAX_DIMS);
    int64_t dims[NAS_CKPT_MAX_DIMS];
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!json_uint(cJSON_GetArrayItem(shape, d), &v) || v > data_len)
            return nas_err_set(err, NAS_EPARSE, "%s: tensor '%s' has an invalid shape", path, name);
        dims[d] = (int64_t)v;
        count *= v;
        if (count > data_len)
            return nas_err_set(err, NAS_EPARSE, "%s: tensor '%s' is larger than the file", path,
                               name);
    }
    if (!json_uint(cJSON_GetArrayItem(offsets, 0), &r->begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &r->end) || r->begin > r->end ||
        r->end > data_len)
        return nas_err_set(err, NAS_EPARSE,
                           "%s: tensor '%s' has data_offsets outside the %" PRIu64
                           "-byte data section (truncated file?)",
                           path, name, data_len);
    if (r->end - r->begin != count * (uint64_t)bytes)
        return nas_err_set(err, NAS_EPARSE,
                           "%s: tensor '%s' spans %" PRIu64 " bytes but its shape and dtype need %" PRIu64,
                           path, name, r->end - r->begin, count * (uint64_t)bytes);
    r->name = name;
    float *values = malloc(sizeof(float) * (count ? count : 1));
    if (!values) return nas_err_set(err, NAS_ENOMEM, "%s: out of memory for tensor '%s'", path, name);
    convert(data + r->begin, type, count, values);
    return add_owned(c, name, ndim, dims, values, count, err);
}

static int parse_metadata(nas_ckpt *c, const char *path, const cJSON *meta, nas_err *err) {
    if (!cJSON_IsObject(meta))
        return nas_err_set(err, NAS_EPARSE, "%s: __metadata__ must be an object of strings", path);
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return nas_err_set(err, NAS_EPARSE, "%s: __metadata__ value of '%s' is not a string",
                               path, kv->string);
        int rc = nas_ckpt_set_meta(c, kv->string, kv->valuestring, err);
        if (rc) return rc;
    }
    return 0;
}

int nas_ckpt_load(const char *path, nas_ckpt **out, nas_err *err) {
    *out = NULL;
    if (!host_is_little_endian())
        return nas_err_set(err, NAS_EUNSUPPORTED, "safetensors reading needs a little-endian host");
    struct stat st;
    if (stat(path, &st) != 0)
        return nas_err_set(err, errno == ENOENT ? NAS_ENOTFOUND : NAS_EIO, "%s: cannot open: %s",
                           path, strerror(errno));
    FILE *f = fopen(path, "rb");
    if (!f) return nas_err_set(err, NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *file = NULL;
    char *source = NULL;
    cJSON *root = NULL;
    range *ranges = NULL;
    nas_ckpt *c = NULL;
    int rc = 0;
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        rc = nas_err_set(err, NAS_EPARSE, "%s: %" PRIu64 " bytes is too short for safetensors",
                         path, size);
        goto done;
    }
    file = malloc(size);
    if (!file) {
        rc = nas_err_set(err, NAS_ENOMEM, "%s: out of memory reading %" PRIu64 " bytes", path, size);
        goto done;
    }
    if (fread(file, 1, size, f) != size) {
        rc = nas_err_set(err, NAS_EIO, "%s: read failed", path);
        goto done;
    }
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++) header_len |= (uint64_t)file[i] << (8 * i);
    if (header_len > CKPT_MAX_HEADER_BYTES || header_len > size - 8) {
        rc = nas_err_set(err, NAS_EPARSE,
                         "%s: header length %" PRIu64 " does not fit the %" PRIu64
                         "-byte file (not a safetensors file, or truncated)",
                         path, header_len, size);
        goto done;
    }
    root = cJSON_ParseWithLength((const char *)file + 8, (size_t)header_len);
    if (!cJSON_IsObject(root)) {
        rc = nas_err_set(err, NAS_EPARSE, "%s: the header is not a JSON object", path);
        goto done;
    }
    c = nas_ckpt_new();
    if (!c || !(source = strdup(path))) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
        goto done;
    }
    free(c->source);
    c->source = source;
    source = NULL;
    int entries = cJSON_GetArraySize(root);
    ranges = calloc((size_t)entries + 1, sizeof *ranges);
    if (!ranges) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
        goto done;
    }
    const unsigned char *data = file + 8 + header_len;
    uint64_t data_len = size - 8 - header_len;
    int n_ranges = 0;
    for (const cJSON *entry = root->child; entry && !rc; entry = entry->next) {
        if (strcmp(entry->string, "__metadata__") == 0)
            rc = parse_metadata(c, path, entry, err);
        else
            rc = load_tensor(c, path, entry, data, data_len, &ranges[n_ranges++], err);
    }
    if (rc) goto done;
    qsort(ranges, (size_t)n_ranges, sizeof *ranges, compare_ranges);
    uint64_t expect = 0;
    for (int i = 0; i < n_ranges; i++) {
        if (ranges[i].begin != expect) {
            rc = nas_err_set(err, NAS_EPARSE,
                             "%s: tensor '%s' starts at byte %" PRIu64 " of the data but %" PRIu64
                             " was expected (overlapping or gapped data_offsets)",
                             path, ranges[i].name, ranges[i].begin, expect);
            goto done;
        }
        expect = ranges[i].end;
    }
    if (expect != data_len)
        rc = nas_err_set(err, NAS_EPARSE,
                         "%s: the tensors cover %" PRIu64 " of the %" PRIu64 " data bytes", path,
                         expect, data_len);
done:
    fclose(f);
    free(ranges);
    cJSON_Delete(root);
    free(source);
    free(file);
    if (rc)
        nas_ckpt_free(&c);
    else
        *out = c;
    return rc;
}

/* ---- networks ---- */

static int add_buffer(nas_ckpt *c, const nas_backend *be, const char *name, const nas_param *p,
                      const nas_buf *buf, nas_err *err) {
    float *host = malloc(sizeof(float) * p->count);
    if (!host) return nas_err_set(err, NAS_ENOMEM, "out of memory saving %s", name);
    int rc = be->download(be, buf, host, p->count, err);
    if (rc) {
        free(host);
        return nas_err_prefix(err, "saving %s", name);
    }
    int64_t shape[4];
    for (int d = 0; d < p->ndim; d++) shape[d] = p->shape[d];
    return add_owned(c, name, p->ndim, shape, host, p->count, err);
}

int nas_ckpt_from_net(nas_net *net, const nas_optim *optim, nas_ckpt **out, nas_err *err) {
    *out = NULL;
    nas_ckpt *c = nas_ckpt_new();
    if (!c) return nas_err_set(err, NAS_ENOMEM, "out of memory for a checkpoint");
    const nas_backend *be = nas_net_backend(net);
    int rc = 0;
    for (int i = 0; i < nas_net_param_count(net) && !rc; i++) {
        const nas_param *p = nas_net_param(net, i);
        rc = add_buffer(c, be, p->name, p, p->value, err);
    }
    for (int i = 0; optim && i < nas_net_param_count(net) && !rc; i++) {
        const nas_param *p = nas_net_param(net, i);
        const nas_buf *m = nas_optim_momentum(optim, i);
        if (!m) continue;
        size_t len = strlen(CKPT_MOMENTUM_PREFIX) + strlen(p->name) + 1;
        char *name = malloc(len);
        if (!name) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
            break;
        }
        snprintf(name, len, "%s%s", CKPT_MOMENTUM_PREFIX, p->name);
        rc = add_buffer(c, be, name, p, m, err);
        free(name);
    }
    if (rc)
        nas_ckpt_free(&c);
    else
        *out = c;
    return rc;
}

static bool same_shape(const nas_ckpt_tensor *t, const nas_param *p) {
    if (t->ndim != p->ndim || t->count != p->count) return false;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d]) return false;
    return true;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, d ? ", %" PRId64 : "%" PRId64, shape[d]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

int nas_ckpt_to_net(const nas_ckpt *c, nas_net *net, nas_optim *optim, nas_ckpt_match match,
                    int *loaded, int *shape_mismatches, nas_err *err) {
    const nas_backend *be = nas_net_backend(net);
    int n_loaded = 0, n_mismatch = 0;
    const char *src = c->source[0] ? c->source : "checkpoint";
    for (int i = 0; i < nas_net_param_count(net); i++) {
        const nas_param *p = nas_net_param(net, i);
        const nas_ckpt_tensor *t = nas_ckpt_find(c, p->name);
        if (!t || !same_shape(t, p)) {
            if (match == NAS_CKPT_MATCH_NAMES) {
                n_mismatch += t != NULL;
                continue;
            }
            if (!t)
                return nas_err_set(err, NAS_EINVAL,
                                   "%s has no tensor '%s': it was saved from a different "
                                   "architecture (use init_from to load matching layers only)",
                                   src, p->name);
            char want[96], got[96];
            int64_t pshape[4];
            for (int d = 0; d < p->ndim; d++) pshape[d] = p->shape[d];
            format_shape(want, sizeof want, p->ndim, pshape);
            format_shape(got, sizeof got, t->ndim, t->shape);
            return nas_err_set(err, NAS_EINVAL, "%s: tensor '%s' has shape %s but the network needs %s",
                               src, p->name, got, want);
        }
        int rc = be->upload(be, p->value, t->data, p->count, err);
        if (rc) return nas_err_prefix(err, "loading %s from %s", p->name, src);
        n_loaded++;
        nas_buf *m = optim ? nas_optim_momentum(optim, i) : NULL;
        if (!m) continue;
        size_t len = strlen(CKPT_MOMENTUM_PREFIX) + strlen(p->name) + 1;
        char *name = malloc(len);
        if (!name) return nas_err_set(err, NAS_ENOMEM, "out of memory");
        snprintf(name, len, "%s%s", CKPT_MOMENTUM_PREFIX, p->name);
        const nas_ckpt_tensor *mt = nas_ckpt_find(c, name);
        free(name);
        if (mt && mt->count == p->count) {
            rc = be->upload(be, m, mt->data, p->count, err);
            if (rc) return nas_err_prefix(err, "loading the momentum of %s from %s", p->name, src);
        }
    }
    if (loaded) *loaded = n_loaded;
    if (shape_mismatches) *shape_mismatches = n_mismatch;
    if (n_loaded == 0)
        return nas_err_set(err, NAS_EINVAL,
                           "%s: no tensor matches a parameter of this network by name and shape",
                           src);
    return 0;
}
