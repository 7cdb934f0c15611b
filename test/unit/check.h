/* check.h - the few macros canopy's C unit tests need (TAP-like output).
 * ok(cond, fmt, ...) records one assertion; return done() from main. */
#ifndef CANOPY_CHECK_H
#define CANOPY_CHECK_H
#include <stdio.h>
#include <stdarg.h>
static int check_run_, check_failed_;
static inline void ok_ (int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    check_run_++;
    if (!cond)
        check_failed_++;
    printf ("%s %d - ", cond ? "ok" : "not ok", check_run_);
    va_start (ap, fmt);
    vprintf (fmt, ap);
    va_end (ap);
    if (!cond)
        printf ("  (%s:%d)", file, line);
    printf ("\n");
}
#define ok(cond, ...) ok_ (!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* A check that cannot run here (e.g. needs root): counted, TAP "# SKIP". */
static int check_skipped_;
static inline void skip (const char *fmt, ...)
{
    va_list ap;
    check_run_++;
    check_skipped_++;
    printf ("ok %d # SKIP ", check_run_);
    va_start (ap, fmt);
    vprintf (fmt, ap);
    va_end (ap);
    printf ("\n");
}
/* A deterministic xorshift64 generator, so a failing random case repeats. */
#include <stdint.h>
static uint64_t check_rng_ = 88172645463325252ull;
static inline uint32_t check_rnd (void)
{
    check_rng_ ^= check_rng_ << 13;
    check_rng_ ^= check_rng_ >> 7;
    check_rng_ ^= check_rng_ << 17;
    return (uint32_t)check_rng_;
}
static inline int done (void)
{
    printf ("1..%d\n# %d passed, %d failed, %d skipped\n", check_run_,
            check_run_ - check_failed_ - check_skipped_, check_failed_, check_skipped_);
    return check_failed_ ? 1 : (check_run_ ? 0 : 1);
}
#endif
