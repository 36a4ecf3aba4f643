/*
 * search/testfunc.c - Ackley, Levy, Rosenbrock, Rastrigin (see testfunc.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/testfunc.h"

static double ackley(const double *x, int d) {
    double s2 = 0, sc = 0;
    for (int i = 0; i < d; i++) {
        s2 += x[i] * x[i];
        sc += cos(2.0 * M_PI * x[i]);
    }
    return -20.0 * exp(-0.2 * sqrt(s2 / d)) - exp(sc / d) + 20.0 + M_E;
}

static double levy(const double *x, int d) {
    double w0 = 1.0 + (x[0] - 1.0) / 4.0, wl = 1.0 + (x[d - 1] - 1.0) / 4.0;
    double s = sin(M_PI * w0) * sin(M_PI * w0);
    for (int i = 1; i < d; i++) { /* LA-MCTS's range, see the header */
        double w = 1.0 + (x[i] - 1.0) / 4.0, t = sin(M_PI * w + 1.0);
        s += (w - 1.0) * (w - 1.0) * (1.0 + 10.0 * t * t);
    }
    double t = sin(2.0 * M_PI * wl);
    return s + (wl - 1.0) * (wl - 1.0) * (1.0 + t * t);
}

static double rosenbrock(const double *x, int d) {
    double s = 0;
    for (int i = 0; i + 1 < d; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    return s;
}

static double rastrigin(const double *x, int d) {
    double s = 10.0 * d;
    for (int i = 0; i < d; i++) s += x[i] * x[i] - 10.0 * cos(2.0 * M_PI * x[i]);
    return s;
}

static const nas_testfunc funcs[] = {
    {"ackley", -5.0, 10.0, ackley},
    {"levy", -10.0, 10.0, levy},
    {"rosenbrock", -10.0, 10.0, rosenbrock},
    {"rastrigin", -5.12, 5.12, rastrigin},
};

const nas_testfunc *nas_testfunc_find(const char *name) {
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strcmp(funcs[i].name, name) == 0) return &funcs[i];
    return NULL;
}

double nas_testfunc_eval_unit(const nas_testfunc *tf, const double *u, int d) {
    enum { STACK_DIMS = 256 };
    double stack[STACK_DIMS] = {0};
    if (d <= 0) return NAN;
    double *x = d <= STACK_DIMS ? stack : malloc(sizeof(double) * (size_t)d);
    if (!x) return NAN;
    for (int i = 0; i < d; i++) x[i] = tf->lower + u[i] * (tf->upper - tf->lower);
    double f = tf->f(x, d);
    if (x != stack) free(x);
    return f;
}
