/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Functions that are too easy to misuse (git's banned.h). Included in every
 * translation unit by the build; using one of them is a compile error. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef atoi
#define atoi(x) BANNED(atoi)
