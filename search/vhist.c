/*
 * search/vhist.c - the history every vector-level optimiser reads.
 *
 * Owns the told/pending arrays and the single rule for turning infeasible or
 * failed observations into model values (see vopt.h). Keys live in a hash
 * multiset beside the arrays (vopt.h says why); the arrays stay the record
 * and the index is rebuilt from them whenever it grows.
 */
#include <assert.h>
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
    if (h->pending_x) free(h->pending_x - (size_t)h->pending_head * (size_t)h->dims);
    if (h->pending_key) free(h->pending_key - h->pending_head);
    free(h->slot_key);
    free(h->slot_count);
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
    *cap = ncap;
    return true;
}

/* ---- key index ---------------------------------------------------------- */

/* slot_count: -1 = free (never used since the last rebuild); 0 = holds a key
 * that is no longer in the arrays (kept so probe chains stay intact; reused
 * when that key comes back, as a pending key does when it is told); n > 0 =
 * the key occurs n times. Rebuilds drop the zero slots. */
#define SLOT_FREE (-1)

static uint32_t slot_of(const nas_vhist *h, uint64_t key) {
    /* keys are FNV hashes or sequence numbers: mix them so both spread */
    uint64_t m = key * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(m >> 32) & (uint32_t)(h->n_slots - 1);
}

/* Slot holding key, or the free slot where it would go. At most half the
 * slots are ever used, so the probe ends. */
static uint32_t probe(const nas_vhist *h, uint64_t key) {
    uint32_t i = slot_of(h, key);
    while (h->slot_count[i] != SLOT_FREE && h->slot_key[i] != key) i = (i + 1) & (uint32_t)(h->n_slots - 1);
    return i;
}

static void index_put(nas_vhist *h, uint64_t key) {
    uint32_t i = probe(h, key);
    if (h->slot_count[i] == SLOT_FREE) {
        h->slot_key[i] = key;
        h->slot_count[i] = 0;
        h->n_slots_used++;
    }
    h->slot_count[i]++;
}

/* Rebuilds the index from the arrays with room for twice `need` keys. */
static int index_rebuild(nas_vhist *h, int need) {
    int n_slots = 16;
    while (n_slots < 4 * need) n_slots *= 2;
    uint64_t *keys = malloc(sizeof *keys * (size_t)n_slots);
    int32_t *counts = malloc(sizeof *counts * (size_t)n_slots);
    if (!keys || !counts) {
        free(keys);
        free(counts);
        return NAS_ENOMEM;
    }
    memset(counts, 0xff, sizeof *counts * (size_t)n_slots); /* every slot SLOT_FREE */
    free(h->slot_key);
    free(h->slot_count);
    h->slot_key = keys;
    h->slot_count = counts;
    h->n_slots = n_slots;
    h->n_slots_used = 0;
    for (int i = 0; i < h->n; i++) index_put(h, h->key[i]);
    for (int i = 0; i < h->n_pending; i++) index_put(h, h->pending_key[i]);
    return 0;
}

/* Makes room for one more key before the arrays change. */
static int index_reserve(nas_vhist *h) {
    if (2 * (h->n_slots_used + 1) <= h->n_slots) return 0;
    return index_rebuild(h, h->n + h->n_pending + 1);
}

static void index_remove(nas_vhist *h, uint64_t key) {
    uint32_t i = probe(h, key);
    assert(h->slot_count[i] > 0); /* the key was in the arrays */
    h->slot_count[i]--;
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
    if (index_reserve(h)) return NAS_ENOMEM;
    index_put(h, key);
    memcpy(h->x + (size_t)h->n * (size_t)h->dims, x, sizeof(double) * (size_t)h->dims);
    h->value[h->n] = status == NAS_VSTATUS_OK ? value : 0.0;
    h->status[h->n] = (uint8_t)status;
    h->key[h->n] = key;
    h->n++;
    return 0;
}

int nas_vhist_add_pending(nas_vhist *h, const double *x, uint64_t key) {
    size_t d = (size_t)h->dims;
    double *xbuf = h->pending_x ? h->pending_x - (size_t)h->pending_head * d : NULL;
    uint64_t *kbuf = h->pending_key ? h->pending_key - h->pending_head : NULL;
    if (h->pending_head > 0 && h->pending_head + h->n_pending + 1 > h->cap_pending) {
        /* out of room at the end: move the live entries to the front first */
        memmove(xbuf, h->pending_x, sizeof(double) * d * (size_t)h->n_pending);
        memmove(kbuf, h->pending_key, sizeof(uint64_t) * (size_t)h->n_pending);
        h->pending_head = 0;
    }
    int c1 = h->cap_pending, c2 = h->cap_pending;
    int need = h->pending_head + h->n_pending + 1;
    if (!grow((void **)&xbuf, &c1, need, sizeof(double) * d) || !grow((void **)&kbuf, &c2, need, sizeof(uint64_t))) {
        /* a grow that succeeded moved its buffer: keep the views valid */
        h->pending_x = xbuf + (size_t)h->pending_head * d;
        h->pending_key = kbuf + h->pending_head;
        return NAS_ENOMEM;
    }
    h->cap_pending = c1 < c2 ? c1 : c2;
    h->pending_x = xbuf + (size_t)h->pending_head * d;
    h->pending_key = kbuf + h->pending_head;
    if (index_reserve(h)) return NAS_ENOMEM;
    index_put(h, key);
    memcpy(h->pending_x + (size_t)h->n_pending * d, x, sizeof(double) * d);
    h->pending_key[h->n_pending] = key;
    h->n_pending++;
    return 0;
}

bool nas_vhist_remove_pending(nas_vhist *h, uint64_t key) {
    for (int i = 0; i < h->n_pending; i++) {
        if (h->pending_key[i] != key) continue;
        /* keep order (proposal order matters for reproducible fantasies):
         * close the gap from whichever side is shorter */
        size_t d = (size_t)h->dims;
        if (i < h->n_pending / 2) {
            memmove(h->pending_x + d, h->pending_x, sizeof(double) * d * (size_t)i);
            memmove(h->pending_key + 1, h->pending_key, sizeof(uint64_t) * (size_t)i);
            h->pending_x += d;
            h->pending_key++;
            h->pending_head++;
        } else {
            memmove(h->pending_x + (size_t)i * d, h->pending_x + (size_t)(i + 1) * d,
                    sizeof(double) * d * (size_t)(h->n_pending - i - 1));
            memmove(h->pending_key + i, h->pending_key + i + 1, sizeof(uint64_t) * (size_t)(h->n_pending - i - 1));
        }
        h->n_pending--;
        index_remove(h, key);
        return true;
    }
    return false;
}

bool nas_vhist_has_key(const nas_vhist *h, uint64_t key) {
    if (h->n_slots == 0) return false;
    return h->slot_count[probe(h, key)] > 0;
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
