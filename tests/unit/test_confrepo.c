/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "app/confrepo.h"
static void placeholder(void **state) { (void) state; }
int main(void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test(placeholder) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
