/*
 * tests/test_pareto.c - Pareto front, hypervolume, tiers and the SVG plot
 * (cli/pareto.c, cli/svg.c) on hand-computed cases, plus the front against a
 * brute-force O(n^2) dominance check on random points.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/pareto.h"
#include "cli/svg.h"
#include "common/rng.h"
#include "tests/test_query_xml.h"

/* cmocka 1.1 has no double assertion: print both values when they differ. */
#define assert_close(actual, expected, tolerance) assert_close_at((actual), (expected), (tolerance), __LINE__)
static void assert_close_at(double actual, double expected, double tolerance, int line) {
    if (fabs(actual - expected) <= tolerance) return;
    fail_msg("line %d: %.17g differs from %.17g by more than %g", line, actual, expected, tolerance);
}

/* x = latency to minimise, y = top-1 to maximise. Hand-worked front:
 * (0.5,0.2) (1,0.5) (2,0.7) (4,0.9); (2,0.6) and (3,0.65) are dominated,
 * the second (4,0.9) duplicates an earlier point. */
static const nas_pareto_point hand[] = {
    {1.0, 0.5, 10}, {2.0, 0.7, 11}, {2.0, 0.6, 12}, {3.0, 0.65, 13},
    {4.0, 0.9, 14}, {0.5, 0.2, 15}, {4.0, 0.9, 16},
};
#define N_HAND (sizeof hand / sizeof hand[0])

static void front_of_hand(size_t *front, size_t *n_front) {
    nas_err err = {0};
    assert_int_equal(nas_pareto_front(hand, N_HAND, front, n_front, &err), 0);
}

static void test_front_hand_case(void **state) {
    (void)state;
    size_t front[N_HAND], n_front = 0;
    front_of_hand(front, &n_front);
    assert_int_equal(n_front, 4);
    const int64_t expected_ids[] = {15, 10, 11, 14}; /* by increasing latency; 14 beats its duplicate 16 */
    for (size_t i = 0; i < n_front; i++) assert_int_equal(hand[front[i]].id, expected_ids[i]);
}

static void test_front_empty_and_nan(void **state) {
    (void)state;
    nas_err err = {0};
    size_t front[3], n_front = 99;
    assert_int_equal(nas_pareto_front(NULL, 0, NULL, &n_front, &err), 0);
    assert_int_equal(n_front, 0);
    const nas_pareto_point with_nan[] = {{NAN, 0.9, 1}, {1.0, NAN, 2}, {2.0, 0.3, 3}};
    assert_int_equal(nas_pareto_front(with_nan, 3, front, &n_front, &err), 0);
    assert_int_equal(n_front, 1);
    assert_int_equal(with_nan[front[0]].id, 3);
}

static void test_hypervolume_hand_case(void **state) {
    (void)state;
    size_t front[N_HAND], n_front = 0;
    front_of_hand(front, &n_front);
    /* ref (5, 0): 0.5*0.2 + 1*0.5 + 2*0.7 + 1*0.9 = 2.9 */
    assert_close(nas_pareto_hypervolume(hand, front, n_front, 5.0, 0.0), 2.9, 1e-12);
    /* ref (3, 0): the x = 4 point is outside; 0.1 + 0.5 + 1*0.7 = 1.3 */
    assert_close(nas_pareto_hypervolume(hand, front, n_front, 3.0, 0.0), 1.3, 1e-12);
    /* ref (5, 0.4): (0.5,0.2) adds nothing; 1*0.1 + 2*0.3 + 1*0.5 = 1.2 */
    assert_close(nas_pareto_hypervolume(hand, front, n_front, 5.0, 0.4), 1.2, 1e-12);
    /* A reference point dominated by everything gives nothing. */
    assert_close(nas_pareto_hypervolume(hand, front, n_front, 0.5, 0.0), 0.0, 0.0);
    assert_close(nas_pareto_hypervolume(hand, front, 0, 5.0, 0.0), 0.0, 0.0);
}

static void test_best_within_tiers(void **state) {
    (void)state;
    size_t front[N_HAND], n_front = 0;
    front_of_hand(front, &n_front);
    assert_int_equal(nas_pareto_best_within(hand, front, n_front, 0.1), -1);
    assert_int_equal(hand[front[nas_pareto_best_within(hand, front, n_front, 0.5)]].id, 15);
    assert_int_equal(hand[front[nas_pareto_best_within(hand, front, n_front, 1.5)]].id, 10);
    assert_int_equal(hand[front[nas_pareto_best_within(hand, front, n_front, 3.99)]].id, 11);
    assert_int_equal(hand[front[nas_pareto_best_within(hand, front, n_front, 100)]].id, 14);
}

/* Brute force: p is on the front iff no q dominates it and no earlier
 * identical point exists. */
static bool brute_on_front(const nas_pareto_point *pts, size_t n, size_t i) {
    for (size_t j = 0; j < n; j++) {
        if (j == i) continue;
        bool no_worse = pts[j].x <= pts[i].x && pts[j].y >= pts[i].y;
        bool better = pts[j].x < pts[i].x || pts[j].y > pts[i].y;
        if (no_worse && (better || j < i)) return false;
    }
    return true;
}

static void test_front_matches_brute_force(void **state) {
    (void)state;
    enum { N = 600 };
    nas_pareto_point *pts = malloc(N * sizeof *pts);
    size_t *front = malloc(N * sizeof *front);
    assert_non_null(pts);
    assert_non_null(front);
    nas_rng rng;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        nas_rng_seed(&rng, seed);
        for (size_t i = 0; i < N; i++) {
            /* Coarse grids so that ties and duplicates really occur. */
            pts[i].x = (double)nas_rng_below(&rng, 50) / 10.0;
            pts[i].y = (double)nas_rng_below(&rng, 40) / 40.0;
            pts[i].id = (int64_t)i;
        }
        size_t n_front = 0;
        nas_err err = {0};
        assert_int_equal(nas_pareto_front(pts, N, front, &n_front, &err), 0);
        size_t expected = 0;
        for (size_t i = 0; i < N; i++) expected += brute_on_front(pts, N, i);
        assert_int_equal(n_front, expected);
        for (size_t k = 0; k < n_front; k++) {
            assert_true(brute_on_front(pts, N, front[k]));
            if (k > 0) {
                assert_true(pts[front[k]].x > pts[front[k - 1]].x);
                assert_true(pts[front[k]].y > pts[front[k - 1]].y);
            }
        }
        /* Hypervolume against a Monte-Carlo-free check: the area under the
         * staircase equals the sum of dominated unit cells on the 0.1 x 0.025 grid. */
        double hv = nas_pareto_hypervolume(pts, front, n_front, 5.0, 0.0);
        double cells = 0;
        for (int cx = 0; cx < 50; cx++)
            for (int cy = 0; cy < 40; cy++) {
                double x = cx / 10.0 + 0.05, y = cy / 40.0 + 0.0125; /* cell centre */
                for (size_t k = 0; k < n_front; k++)
                    if (pts[front[k]].x <= x && pts[front[k]].y >= y) {
                        cells += 1;
                        break;
                    }
            }
        assert_close(hv, cells * 0.1 * 0.025, 1e-9);
    }
    free(pts);
    free(front);
}

static void test_nice_step(void **state) {
    (void)state;
    assert_close(nas_svg_nice_step(10.0, 5), 2.0, 1e-12);
    assert_close(nas_svg_nice_step(1.0, 4), 0.5, 1e-12);
    assert_close(nas_svg_nice_step(0.37, 6), 0.1, 1e-12);
    assert_close(nas_svg_nice_step(730.0, 6), 200.0, 1e-9);
}

static char *render_svg(const nas_pareto_point *pts, size_t n, const size_t *front, size_t n_front,
                        const nas_svg_labels *labels) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    nas_err err = {0};
    assert_int_equal(nas_svg_write_pareto(f, pts, n, front, n_front, labels, &err), 0);
    fclose(f);
    return buf;
}

static void test_svg_well_formed_with_all_points(void **state) {
    (void)state;
    size_t front[N_HAND], n_front = 0;
    front_of_hand(front, &n_front);
    /* Labels with XML specials must come out escaped. */
    nas_svg_labels labels = {"a <b> & \"c\"", "latency (ms) <x>", "top-1 & y"};
    char *svg = render_svg(hand, N_HAND, front, n_front, &labels);
    char why[256] = "";
    assert_true(xml_well_formed(svg, why, sizeof why) || (fprintf(stderr, "%s\n", why), 0));
    /* One circle per distinct result (the duplicate at (4, 0.9) shares a
     * pixel and is drawn once), one per front point, two in the legend. */
    assert_int_equal(xml_count(svg, "<circle"), (N_HAND - 1) + n_front + 2);
    assert_int_equal(xml_count(svg, "<polyline class=\"front\""), 1);
    assert_non_null(strstr(svg, "a &lt;b&gt; &amp; &quot;c&quot;"));
    free(svg);
}

static void test_svg_dedupes_dense_points(void **state) {
    (void)state;
    enum { N = 20000 };
    nas_pareto_point *pts = malloc(N * sizeof *pts);
    size_t *front = malloc(N * sizeof *front);
    assert_non_null(pts);
    assert_non_null(front);
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    for (size_t i = 0; i < N; i++) pts[i] = (nas_pareto_point){nas_rng_uniform(&rng), nas_rng_uniform(&rng), (int64_t)i};
    size_t n_front = 0;
    nas_err err = {0};
    assert_int_equal(nas_pareto_front(pts, N, front, &n_front, &err), 0);
    nas_svg_labels labels = {"dense", "x", "y"};
    char *svg = render_svg(pts, N, front, n_front, &labels);
    char why[256] = "";
    assert_true(xml_well_formed(svg, why, sizeof why));
    size_t circles = xml_count(svg, "<circle");
    /* Every result still appears unless it shares a half-pixel cell with
     * another: with 20000 uniform points on ~480k cells few collide. */
    assert_true(circles > (size_t)N * 95 / 100);
    assert_true(circles <= (size_t)N + n_front + 2);
    free(svg);
    free(pts);
    free(front);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_front_hand_case),
        cmocka_unit_test(test_front_empty_and_nan),
        cmocka_unit_test(test_hypervolume_hand_case),
        cmocka_unit_test(test_best_within_tiers),
        cmocka_unit_test(test_front_matches_brute_force),
        cmocka_unit_test(test_nice_step),
        cmocka_unit_test(test_svg_well_formed_with_all_points),
        cmocka_unit_test(test_svg_dedupes_dense_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
