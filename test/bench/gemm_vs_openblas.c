/*
 * native/gemm.c's packed SGEMM against OpenBLAS's cblas_sgemm on the benchmark nets' shapes, at 1
 * and 2 threads; prints one JSON line per shape. Driven by gemm-vs-openblas.ts (which compiles it);
 * the OpenBLAS build is dlopen()ed from argv[1] so the openmp and pthread builds can be compared
 * without relinking: gemm_vs_openblas /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../native/gemm.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112, ROUNDS = 9 };
typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                         float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int);

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Calls per round so a round takes ~20 ms (one timed call decides). */
static int reps_for(void (*f)(void *), void *ctx) {
  double t0 = now_s();
  f(ctx);
  double once = now_s() - t0;
  return once > 0.02 ? 1 : (int)(0.02 / (once > 1e-7 ? once : 1e-7));
}

static double round_s(void (*f)(void *), void *ctx, int reps) {
  double t0 = now_s();
  for (int j = 0; j < reps; j++) f(ctx);
  return (now_s() - t0) / reps;
}

typedef struct {
  long m, n, k;
  int ta, tb;
  float *a, *b, *c;
  sgemm_fn sgemm;
} job;

static void run_ours(void *p) {
  job *j = p;
  gemm_args g;
  memset(&g, 0, sizeof g);
  g.trans_a = j->ta;
  g.trans_b = j->tb;
  g.m = j->m;
  g.n = j->n;
  g.k = j->k;
  g.a = j->a;
  g.lda = j->ta ? j->m : j->k;
  g.b = j->b;
  g.ldb = j->tb ? j->k : j->n;
  g.c = j->c;
  g.ldc = j->n;
  tp_gemm(&g);
}

static void run_blas(void *p) {
  job *j = p;
  j->sgemm(ROW_MAJOR, j->ta ? TRANS : NO_TRANS, j->tb ? TRANS : NO_TRANS, (int)j->m, (int)j->n, (int)j->k, 1.0f, j->a, j->ta ? (int)j->m : (int)j->k,
           j->b, j->tb ? (int)j->k : (int)j->n, 0.0f, j->c, (int)j->n);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s libopenblas.so shapes-file\n", argv[0]);
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 2;
  }
  sgemm_fn sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
  set_threads_fn set_threads = (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
  const char *(*config)(void) = (const char *(*)(void))dlsym(lib, "openblas_get_config");
  if (!sgemm || !set_threads) {
    fprintf(stderr, "%s has no cblas_sgemm / openblas_set_num_threads\n", argv[1]);
    return 2;
  }
  FILE *f = fopen(argv[2], "r");
  if (!f) return 2;
  printf("{\"isa\":\"%s\",\"openblas\":\"%s\"}\n", tp_isa(), config ? config() : "?");
  char name[128];
  long m, n, k;
  int ta, tb;
  while (fscanf(f, "%127s %ld %ld %ld %d %d", name, &m, &n, &k, &ta, &tb) == 6) {
    job j = {m, n, k, ta, tb, malloc(sizeof(float) * m * k), malloc(sizeof(float) * k * n), malloc(sizeof(float) * m * n), sgemm};
    for (long i = 0; i < m * k; i++) j.a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (long i = 0; i < k * n; i++) j.b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    double flop = 2.0 * m * n * k;
    printf("{\"shape\":\"%s\",\"m\":%ld,\"n\":%ld,\"k\":%ld,\"ta\":%d,\"tb\":%d", name, m, n, k, ta, tb);
    for (int t = 1; t <= 2; t++) {
      tp_set_threads(t);
      set_threads(t);
      /*
       * Rounds alternate ours / OpenBLAS and the fastest round of each counts: on a shared box
       * other processes only ever slow a round down, so the minimum is the least disturbed.
       */
      int ro = reps_for(run_ours, &j), rb = reps_for(run_blas, &j);
      double ours = 1e30, blas = 1e30;
      for (int r = 0; r < ROUNDS; r++) {
        double a = round_s(run_ours, &j, ro), b = round_s(run_blas, &j, rb);
        if (a < ours) ours = a;
        if (b < blas) blas = b;
      }
      printf(",\"ours_%dt\":%.2f,\"openblas_%dt\":%.2f", t, flop / ours / 1e9, t, flop / blas / 1e9);
    }
    printf("}\n");
    fflush(stdout);
    free(j.a);
    free(j.b);
    free(j.c);
  }
  return 0;
}
