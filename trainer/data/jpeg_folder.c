/*
 * trainer/data/jpeg_folder.c - the index of a JPEG folder and the decoding
 * of one image into an augmented crop (see jpeg_folder.h).
 *
 * The crop box is chosen in the coordinates of the original image first (so
 * the augmentation is torchvision's, independent of how we decode); then
 * libjpeg decodes at the smallest DCT scale M/8 that keeps the box at least
 * `size` pixels on both sides, reads only the scanlines the box touches, and
 * a bilinear resample maps the box to size x size. Decoding at 1/2 or 1/4
 * scale is what makes large ImageNet photos cheap.
 *
 * libjpeg reports fatal errors through error_exit, which must not return;
 * we longjmp back to the decode function, free what it holds and turn the
 * library's message into a nas_err naming the file.
 */
#include "trainer/data/jpeg_folder.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jerror.h>
#include <jpeglib.h>

/* Refuse files larger than this: no photo needs it, and a huge file is more
 * likely a mistake than an image. */
#define JPEG_MAX_FILE_BYTES (64u << 20)

struct nas_jpeg_folder {
    int count, classes;
    char **paths;        /* count full paths, sorted by class then name */
    int *labels;         /* count */
    char **class_names;  /* classes */
};

/* ---- index ---- */

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_jpeg_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot == NULL) return false;
    char ext[6] = {0};
    size_t n = strlen(dot + 1);
    if (n == 0 || n >= sizeof ext) return false;
    for (size_t i = 0; i < n; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    return strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0;
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p == NULL) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* A growable array of malloc'd strings. */
typedef struct name_list {
    char **items;
    int count, cap;
} name_list;

static int name_list_push(name_list *list, char *item) {
    if (item == NULL) return NAS_ENOMEM;
    if (list->count == list->cap) {
        int cap = list->cap ? list->cap * 2 : 64;
        char **grown = realloc(list->items, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            free(item);
            return NAS_ENOMEM;
        }
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = item;
    return 0;
}

static void name_list_release(name_list *list) {
    for (int i = 0; i < list->count; i++) free(list->items[i]);
    free(list->items);
    *list = (name_list){0};
}

/* Names of the visible entries of dir that are directories (want_dirs) or
 * JPEG files, sorted. */
static int list_entries(const char *dir, bool want_dirs, name_list *out, nas_err *err) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return nas_err_set(err, NAS_ENOTFOUND, "JPEG folder %s: cannot open: %s", dir,
                           strerror(errno));
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        char *path = join_path(dir, entry->d_name);
        if (path == NULL) {
            closedir(d);
            return nas_err_set(err, NAS_ENOMEM, "out of memory listing %s", dir);
        }
        struct stat st; /* stat, not d_type: follows symlinks and works on every file system */
        bool exists = stat(path, &st) == 0;
        bool is_dir = exists && S_ISDIR(st.st_mode), is_file = exists && S_ISREG(st.st_mode);
        free(path);
        bool wanted = want_dirs ? is_dir : is_file && has_jpeg_extension(entry->d_name);
        if (wanted && name_list_push(out, strdup(entry->d_name)) != 0) {
            closedir(d);
            return nas_err_set(err, NAS_ENOMEM, "out of memory listing %s", dir);
        }
    }
    closedir(d);
    if (out->count > 1) qsort(out->items, (size_t)out->count, sizeof *out->items, compare_names);
    return 0;
}

int nas_jpeg_folder_open(const char *dir, nas_jpeg_folder **out, nas_err *err) {
    *out = NULL;
    nas_jpeg_folder *f = calloc(1, sizeof *f);
    if (f == NULL) return nas_err_set(err, NAS_ENOMEM, "out of memory opening %s", dir);
    name_list classes = {0}, paths = {0};
    int *labels = NULL;
    int labels_cap = 0;
    int rc = list_entries(dir, true, &classes, err);
    if (rc != 0) goto fail;
    if (classes.count == 0) {
        rc = nas_err_set(err, NAS_EINVAL,
                         "JPEG folder %s has no class subfolders; expected %s/<class>/<image>.jpg "
                         "(the layout of ImageNet's train/ folder)",
                         dir, dir);
        goto fail;
    }
    for (int c = 0; c < classes.count; c++) {
        char *class_dir = join_path(dir, classes.items[c]);
        if (class_dir == NULL) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory opening %s", dir);
            goto fail;
        }
        name_list files = {0};
        rc = list_entries(class_dir, false, &files, err);
        if (rc == 0 && files.count == 0)
            rc = nas_err_set(err, NAS_EINVAL,
                             "class folder %s holds no .jpg/.jpeg file; remove it or add images "
                             "(an empty class would shift every later class index)",
                             class_dir);
        for (int i = 0; rc == 0 && i < files.count; i++) {
            if (paths.count == labels_cap) {
                labels_cap = labels_cap ? labels_cap * 2 : 256;
                int *grown = realloc(labels, (size_t)labels_cap * sizeof *grown);
                if (grown == NULL) {
                    rc = nas_err_set(err, NAS_ENOMEM, "out of memory indexing %s", dir);
                    break;
                }
                labels = grown;
            }
            labels[paths.count] = c;
            if (name_list_push(&paths, join_path(class_dir, files.items[i])) != 0)
                rc = nas_err_set(err, NAS_ENOMEM, "out of memory indexing %s", dir);
        }
        name_list_release(&files);
        free(class_dir);
        if (rc != 0) goto fail;
    }
    f->count = paths.count;
    f->paths = paths.items;
    f->labels = labels;
    f->classes = classes.count;
    f->class_names = classes.items;
    *out = f;
    return 0;
fail:
    name_list_release(&classes);
    name_list_release(&paths);
    free(labels);
    free(f);
    return rc;
}

void nas_jpeg_folder_free(nas_jpeg_folder **folder) {
    if (folder == NULL || *folder == NULL) return;
    nas_jpeg_folder *f = *folder;
    for (int i = 0; i < f->count; i++) free(f->paths[i]);
    for (int c = 0; c < f->classes; c++) free(f->class_names[c]);
    free(f->paths);
    free(f->labels);
    free(f->class_names);
    free(f);
    *folder = NULL;
}

int nas_jpeg_folder_count(const nas_jpeg_folder *folder) { return folder->count; }
int nas_jpeg_folder_classes(const nas_jpeg_folder *folder) { return folder->classes; }

const char *nas_jpeg_folder_class_name(const nas_jpeg_folder *folder, int label) {
    return label >= 0 && label < folder->classes ? folder->class_names[label] : NULL;
}

const char *nas_jpeg_folder_path(const nas_jpeg_folder *folder, int index) {
    return index >= 0 && index < folder->count ? folder->paths[index] : NULL;
}

int nas_jpeg_folder_label(const nas_jpeg_folder *folder, int index) {
    return index >= 0 && index < folder->count ? folder->labels[index] : -1;
}

/* ---- crop selection (torchvision's RandomResizedCrop and centre crop) ---- */

nas_jpeg_crop_opts nas_jpeg_crop_defaults(int size, bool train) {
    return (nas_jpeg_crop_opts){.size = size,
                                .train = train,
                                .scale_min = 0.08,
                                .scale_max = 1.0,
                                .ratio_min = 3.0 / 4.0,
                                .ratio_max = 4.0 / 3.0,
                                .hflip = true,
                                .crop_fraction = 0.875};
}

typedef struct crop_box {
    double x, y, w, h; /* in original image pixels */
    bool flip;
} crop_box;

static crop_box choose_crop(int width, int height, const nas_jpeg_crop_opts *o, nas_rng *rng) {
    crop_box box = {0};
    if (!o->train) {
        double side = (width < height ? width : height) * o->crop_fraction;
        box = (crop_box){(width - side) / 2, (height - side) / 2, side, side, false};
        return box;
    }
    double area = (double)width * height;
    double log_rmin = log(o->ratio_min), log_rmax = log(o->ratio_max);
    bool found = false;
    for (int attempt = 0; attempt < 10 && !found; attempt++) {
        double target = area * (o->scale_min + (o->scale_max - o->scale_min) * nas_rng_uniform(rng));
        double aspect = exp(log_rmin + (log_rmax - log_rmin) * nas_rng_uniform(rng));
        int w = (int)lround(sqrt(target * aspect));
        int h = (int)lround(sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            int x = (int)nas_rng_below(rng, (uint64_t)(width - w + 1));
            int y = (int)nas_rng_below(rng, (uint64_t)(height - h + 1));
            box = (crop_box){x, y, w, h, false};
            found = true;
        }
    }
    if (!found) { /* torchvision's fallback: the whole image, ratio clamped */
        double in_ratio = (double)width / height;
        double w = width, h = height;
        if (in_ratio < o->ratio_min)
            h = lround(w / o->ratio_min);
        else if (in_ratio > o->ratio_max)
            w = lround(h * o->ratio_max);
        box = (crop_box){floor((width - w) / 2), floor((height - h) / 2), w, h, false};
    }
    box.flip = o->hflip && nas_rng_uniform(rng) < 0.5;
    return box;
}

/* ---- decoding ---- */

typedef struct jpeg_error_state {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool warned; /* a warning that means the data is damaged */
} jpeg_error_state;

static void on_jpeg_error(j_common_ptr cinfo) {
    jpeg_error_state *state = (jpeg_error_state *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, state->message);
    longjmp(state->jump, 1);
}

/* Warnings (level < 0) about damaged data become errors after decoding;
 * "extraneous bytes before marker" is harmless and common, so it is not. */
static void on_jpeg_message(j_common_ptr cinfo, int level) {
    jpeg_error_state *state = (jpeg_error_state *)cinfo->err;
    if (level >= 0 || state->warned) return;
    if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
    (*cinfo->err->format_message)(cinfo, state->message);
    state->warned = true;
}

static int read_whole_file(const char *path, unsigned char **out, size_t *len, nas_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return nas_err_set(err, NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return nas_err_set(err, NAS_EIO, "%s: not a regular file", path);
    }
    if ((uintmax_t)st.st_size > JPEG_MAX_FILE_BYTES) {
        fclose(f);
        return nas_err_set(err, NAS_EINVAL, "%s: %jd bytes is larger than the %u MiB allowed for "
                           "one image", path, (intmax_t)st.st_size, JPEG_MAX_FILE_BYTES >> 20);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *data = malloc(size ? size : 1);
    if (data == NULL) {
        fclose(f);
        return nas_err_set(err, NAS_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(data, 1, size, f);
    bool bad = ferror(f) != 0 || got != size;
    fclose(f);
    if (bad) {
        free(data);
        return nas_err_set(err, NAS_EIO, "%s: read failed", path);
    }
    *out = data;
    *len = size;
    return 0;
}

/* One output coordinate's bilinear taps along an axis: the two source
 * indices and the weight of the second. */
typedef struct bilinear_tap {
    int i0, i1;
    float w1;
} bilinear_tap;

/* Taps of `size` output samples whose centres map to origin + (k + 0.5) *
 * step - 0.5 in source coordinates (pixel centres at integers, the
 * align_corners=False convention), clamped to [lo, hi]; k runs backwards when
 * flip. Computed once per axis, so the inner loop only reads and blends. */
static void make_taps(bilinear_tap *taps, int size, double origin, double step, int lo, int hi,
                      bool flip) {
    for (int k = 0; k < size; k++) {
        int from = flip ? size - 1 - k : k;
        double at = origin + (from + 0.5) * step - 0.5;
        if (at < lo) at = lo;
        if (at > hi) at = hi;
        int i0 = (int)at;
        taps[k] = (bilinear_tap){i0, i0 + 1 <= hi ? i0 + 1 : i0, (float)(at - i0)};
    }
}

/* Maps the crop box (original-image coordinates) of the decoded rows
 * [row0, row0 + rows) onto size x size planar RGB, mirrored when box->flip.
 * CMYK as libjpeg returns it from Adobe files is inverted (255 = no ink),
 * so R = C * K / 255. Returns false when out of memory. */
static bool resample_crop(const unsigned char *pixels, int width, int row0, int rows,
                          int components, bool cmyk, const crop_box *box, double scale_x,
                          double scale_y, int size, uint8_t *out) {
    bilinear_tap *columns = malloc(2 * (size_t)size * sizeof *columns);
    if (columns == NULL) return false;
    bilinear_tap *lines = columns + size;
    make_taps(columns, size, box->x * scale_x, box->w * scale_x / size, 0, width - 1, box->flip);
    make_taps(lines, size, box->y * scale_y, box->h * scale_y / size, row0, row0 + rows - 1, false);
    size_t plane = (size_t)size * size, stride = (size_t)width * components;
    for (int oy = 0; oy < size; oy++) {
        const unsigned char *r0 = pixels + (size_t)(lines[oy].i0 - row0) * stride;
        const unsigned char *r1 = pixels + (size_t)(lines[oy].i1 - row0) * stride;
        float wy = lines[oy].w1;
        uint8_t *dst = out + (size_t)oy * size;
        for (int ox = 0; ox < size; ox++) {
            size_t a = (size_t)columns[ox].i0 * components, b = (size_t)columns[ox].i1 * components;
            float wx = columns[ox].w1, v[4];
            for (int c = 0; c < components && c < 4; c++) {
                float top = r0[a + c] + (r0[b + c] - r0[a + c]) * wx;
                float bottom = r1[a + c] + (r1[b + c] - r1[a + c]) * wx;
                v[c] = top + (bottom - top) * wy;
            }
            if (cmyk)
                for (int c = 0; c < 3; c++) v[c] = v[c] * v[3] / 255.0f;
            for (int c = 0; c < 3; c++) {
                float q = v[c] + 0.5f;
                dst[c * plane + ox] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }
    free(columns);
    return true;
}

/* Decodes the JPEG in data into out. Everything libjpeg may longjmp over is
 * either owned by cinfo or held in a volatile pointer freed on both paths. */
static int decode_crop(const char *path, const unsigned char *data, size_t len,
                       const nas_jpeg_crop_opts *o, nas_rng *rng, uint8_t *out, nas_err *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_state jerr = {0};
    unsigned char *volatile rows_buffer = NULL;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_jpeg_error;
    jerr.pub.emit_message = on_jpeg_message;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(rows_buffer);
        return nas_err_set(err, NAS_EPARSE, "%s: cannot decode JPEG: %s", path, jerr.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);

    int width = (int)cinfo.image_width, height = (int)cinfo.image_height;
    crop_box box = choose_crop(width, height, o, rng);
    bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    /* Smallest M/8 that keeps the crop at least `size` pixels on each side. */
    double short_side = box.w < box.h ? box.w : box.h;
    int numerator = (int)ceil(8.0 * o->size / short_side);
    cinfo.scale_num = (unsigned)(numerator < 1 ? 1 : numerator > 8 ? 8 : numerator);
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);

    int out_w = (int)cinfo.output_width, out_h = (int)cinfo.output_height;
    int components = cinfo.output_components;
    double scale_x = (double)out_w / width, scale_y = (double)out_h / height;
    /* Rows the bilinear samples touch, with one row of margin each side. */
    int row0 = (int)floor(box.y * scale_y) - 1;
    int row1 = (int)ceil((box.y + box.h) * scale_y) + 1;
    if (row0 < 0) row0 = 0;
    if (row1 > out_h) row1 = out_h;
    int rows = row1 - row0;
    size_t stride = (size_t)out_w * components;
    rows_buffer = malloc(stride * (size_t)rows);
    if (rows_buffer == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return nas_err_set(err, NAS_ENOMEM, "%s: out of memory decoding %dx%d", path, out_w, out_h);
    }
    if (row0 > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)row0);
    while ((int)cinfo.output_scanline < row1) {
        JSAMPROW row = rows_buffer + stride * (cinfo.output_scanline - (JDIMENSION)row0);
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (cinfo.output_scanline < cinfo.output_height)
        jpeg_abort_decompress(&cinfo);
    else
        jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    int rc = 0;
    if (jerr.warned)
        rc = nas_err_set(err, NAS_EPARSE, "%s: corrupt JPEG data: %s", path, jerr.message);
    else if (!resample_crop(rows_buffer, out_w, row0, rows, components, cmyk, &box, scale_x,
                            scale_y, o->size, out))
        rc = nas_err_set(err, NAS_ENOMEM, "%s: out of memory resampling", path);
    free(rows_buffer);
    return rc;
}

int nas_jpeg_decode_crop(const char *path, const nas_jpeg_crop_opts *opts, nas_rng *rng,
                         uint8_t *out, nas_err *err) {
    if (opts->size < 1 || opts->size > 4096)
        return nas_err_set(err, NAS_EINVAL, "crop size %d must be 1 to 4096 pixels", opts->size);
    if (opts->train && !(opts->scale_min > 0 && opts->scale_min <= opts->scale_max &&
                         opts->scale_max <= 1 && opts->ratio_min > 0 &&
                         opts->ratio_min <= opts->ratio_max))
        return nas_err_set(err, NAS_EINVAL,
                           "random-resized-crop needs 0 < scale_min <= scale_max <= 1 and "
                           "0 < ratio_min <= ratio_max");
    if (opts->train && rng == NULL)
        return nas_err_set(err, NAS_EINVAL, "a training crop needs a random generator");
    if (!opts->train && !(opts->crop_fraction > 0 && opts->crop_fraction <= 1))
        return nas_err_set(err, NAS_EINVAL, "crop_fraction %g must be in (0, 1]",
                           opts->crop_fraction);
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = read_whole_file(path, &data, &len, err);
    if (rc != 0) return rc;
    if (len < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        free(data);
        return nas_err_set(err, NAS_EPARSE, "%s: not a JPEG file (it does not start with the "
                           "JPEG marker FF D8 FF)", path);
    }
    rc = decode_crop(path, data, len, opts, rng, out, err);
    free(data);
    return rc;
}
