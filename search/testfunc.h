/*
 * search/testfunc.h - analytic benchmark functions (minimised), as LA-MCTS.
 *
 * Ackley on [-5,10]^d, Levy on [-10,10]^d (LA-MCTS's variant: the middle sum
 * runs over 0-based indices 1..d-1, see shared/reference/lamcts.md 1.9.5),
 * Rosenbrock on [-10,10]^d and Rastrigin on [-5.12,5.12]^d; every minimum is 0.
 * The optimisers maximise value = -f(lb + x (ub - lb)) for x in [0,1]^d.
 */
#ifndef NAS_SEARCH_TESTFUNC_H
#define NAS_SEARCH_TESTFUNC_H

typedef struct nas_testfunc {
    const char *name;
    double lower, upper;                 /* same bounds in every dimension */
    double (*f)(const double *x, int d); /* in the function's own coordinates */
} nas_testfunc;

/* By name ("ackley", "levy", "rosenbrock", "rastrigin"), or NULL. */
const nas_testfunc *nas_testfunc_find(const char *name);
/* f at the unit-cube point u (d entries). */
double nas_testfunc_eval_unit(const nas_testfunc *tf, const double *u, int d);

#endif
