/*
 * cli/pareto.c - Pareto front, best-per-tier and 2-D hypervolume; see pareto.h.
 *
 * The front is one sort plus one sweep: order by x ascending (ties: y
 * descending, then index ascending so the first duplicate wins), then a point
 * is on the front exactly when its y beats every y seen before it. At 1e6
 * results this is ~20 comparisons per point, well below the cost of reading the
 * rows from SQLite, so no index structure is needed.
 */
#include "cli/pareto.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct sort_entry {
    double x, y;
    size_t index;
} sort_entry;

static int compare_entries(const void *a, const void *b) {
    const sort_entry *ea = a, *eb = b;
    if (ea->x < eb->x) return -1;
    if (ea->x > eb->x) return 1;
    if (ea->y > eb->y) return -1; /* better score first among equal costs */
    if (ea->y < eb->y) return 1;
    return (ea->index > eb->index) - (ea->index < eb->index);
}

int nas_pareto_front(const nas_pareto_point *pts, size_t n, size_t *front_idx, size_t *n_front,
                     nas_err *err) {
    assert(n_front != NULL);
    *n_front = 0;
    if (n == 0) return 0;
    assert(pts != NULL && front_idx != NULL);
    sort_entry *entries = malloc(n * sizeof *entries);
    if (!entries)
        return nas_err_set(err, NAS_ENOMEM, "out of memory sorting %zu results for the Pareto front", n);
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(pts[i].x) || isnan(pts[i].y)) continue;
        entries[valid++] = (sort_entry){pts[i].x, pts[i].y, i};
    }
    /* Callers usually read the points in latency order (an index walk), so
     * check first: a sorted input skips the O(n log n) sort. */
    bool sorted = true;
    for (size_t i = 1; i < valid && sorted; i++) sorted = compare_entries(&entries[i - 1], &entries[i]) < 0;
    if (!sorted) qsort(entries, valid, sizeof *entries, compare_entries);
    size_t count = 0;
    for (size_t i = 0; i < valid; i++) {
        /* Strictly better than the last front point: anything else is
         * dominated by it (its x is <= ours and its y >= ours). */
        if (count == 0 || entries[i].y > pts[front_idx[count - 1]].y) front_idx[count++] = entries[i].index;
    }
    free(entries);
    *n_front = count;
    return 0;
}

double nas_pareto_hypervolume(const nas_pareto_point *pts, const size_t *front_idx, size_t n_front,
                              double ref_x, double ref_y) {
    double area = 0.0;
    for (size_t i = 0; i < n_front; i++) {
        const nas_pareto_point *p = &pts[front_idx[i]];
        assert(i == 0 || p->x >= pts[front_idx[i - 1]].x);
        if (p->x >= ref_x) break; /* sorted by x: the rest is outside too */
        if (p->y <= ref_y) continue;
        /* On [p.x, next.x) no later point dominates, and p is the highest
         * point dominating there because y increases along the front. */
        double next_x = ref_x;
        if (i + 1 < n_front && pts[front_idx[i + 1]].x < ref_x) next_x = pts[front_idx[i + 1]].x;
        area += (next_x - p->x) * (p->y - ref_y);
    }
    return area;
}

long nas_pareto_best_within(const nas_pareto_point *pts, const size_t *front_idx, size_t n_front,
                            double bound) {
    long best = -1;
    for (size_t i = 0; i < n_front && pts[front_idx[i]].x <= bound; i++) best = (long)i;
    return best;
}
