/*
 * search/vhist.c - the history every vector-level optimiser reads.
 *
 * Owns the told/pending arrays and the single rule for turning infeasible or
 * failed observations into model values (see vopt.h). Keys are compared by
 * linear scan: histories hold at most a few thousand entries and a scan of
 * that many integers costs far less than one model fit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/vopt.h"

void nas_vhist_init(nas_vhist *h, int dims) {
    memset(h, 0, sizeof *h);
    h->dims = dims;
}

void nas_vhist_release(nas_vhist *h) {
    free(h->x);
    free(h->value);
    free(h->status);
    free(h->key);
    free(h->pending_x);
    free(h->pending_key);
    int dims = h->dims;
    nas_vhist_init(h, dims);
}

static bool grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int ncap = *cap ? *cap : 16;
    while (ncap < need) ncap *= 2;
    void *q = realloc(*p, (size_t)ncap * elem);
    if (!q) return false;
    *p = q;
    return true;
}

int nas_vhist_add_told(nas_vhist *h, const double *x, double value, nas_vstatus status,
                       uint64_t key) {
    int cap = h->cap;
    int c1 = cap, c2 = cap, c3 = cap, c4 = cap;
    if (!grow((void **)&h->x, &c1, h->n + 1, sizeof(double) * (size_t)h->dims) ||
        !grow((void **)&h->value, &c2, h->n + 1, sizeof(double)) ||
        !grow((void **)&h->status, &c3, h->n + 1, sizeof(uint8_t)) ||
        !grow((void **)&h->key, &c4, h->n + 1, sizeof(uint64_t)))
        return NAS_ENOMEM;
    h->cap = c1;
    memcpy(h->x + (size_t)h->n * (size_t)h->dims, x, sizeof(double) * (size_t)h->dims);
    h->value[h->n] = status == NAS_VSTATUS_OK ? value : 0.0;
    h->status[h->n] = (uint8_t)status;
    h->key[h->n] = key;
    h->n++;
    return 0;
}

int nas_vhist_add_pending(nas_vhist *h, const double *x, uint64_t key) {
    int c1 = h->cap_pending, c2 = h->cap_pending;
    if (!grow((void **)&h->pending_x, &c1, h->n_pending + 1, sizeof(double) * (size_t)h->dims) ||
        !grow((void **)&h->pending_key, &c2, h->n_pending + 1, sizeof(uint64_t)))
        return NAS_ENOMEM;
    h->cap_pending = c1;
    memcpy(h->pending_x + (size_t)h->n_pending * (size_t)h->dims, x,
           sizeof(double) * (size_t)h->dims);
    h->pending_key[h->n_pending] = key;
    h->n_pending++;
    return 0;
}

bool nas_vhist_remove_pending(nas_vhist *h, uint64_t key) {
    for (int i = 0; i < h->n_pending; i++) {
        if (h->pending_key[i] != key) continue;
        /* keep order (proposal order matters for reproducible fantasies) */
        size_t d = (size_t)h->dims;
        memmove(h->pending_x + (size_t)i * d, h->pending_x + (size_t)(i + 1) * d,
                sizeof(double) * d * (size_t)(h->n_pending - i - 1));
        memmove(h->pending_key + i, h->pending_key + i + 1,
                sizeof(uint64_t) * (size_t)(h->n_pending - i - 1));
        h->n_pending--;
        return true;
    }
    return false;
}

bool nas_vhist_has_key(const nas_vhist *h, uint64_t key) {
    for (int i = 0; i < h->n; i++)
        if (h->key[i] == key) return true;
    for (int i = 0; i < h->n_pending; i++)
        if (h->pending_key[i] == key) return true;
    return false;
}

int nas_vhist_model_values(const nas_vhist *h, double *y) {
    int n_ok = 0;
    double sum = 0, sum2 = 0, worst = INFINITY;
    for (int i = 0; i < h->n; i++) {
        if (h->status[i] != NAS_VSTATUS_OK) continue;
        double v = h->value[i];
        n_ok++;
        sum += v;
        sum2 += v * v;
        if (v < worst) worst = v;
    }
    double imputed = 0.0;
    if (n_ok > 0) {
        double mean = sum / n_ok;
        double var = n_ok > 1 ? (sum2 - n_ok * mean * mean) / (n_ok - 1) : 0.0;
        double sd = var > 0 ? sqrt(var) : 0.0;
        /* strictly below every feasible value, even when all values are equal */
        imputed = worst - (sd > 0 ? sd : (fabs(worst) > 0 ? 0.1 * fabs(worst) : 1.0));
    }
    for (int i = 0; i < h->n; i++)
        y[i] = h->status[i] == NAS_VSTATUS_OK ? h->value[i] : imputed;
    return n_ok;
}

int nas_vhist_best(const nas_vhist *h) {
    int best = -1;
    for (int i = 0; i < h->n; i++)
        if (h->status[i] == NAS_VSTATUS_OK && (best < 0 || h->value[i] > h->value[best])) best = i;
    return best;
}
