/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Symbol names as people read them: C++ (and legacy Rust, which mangles the same way)
 * demangled by the C++ runtime's own demangler (libstdc++'s __cxa_demangle, the one gdb,
 * perf and eu-stack use), without the parameter list, as flame graphs show them:
 * "_ZN4node2fsL4ReadERKN2v820FunctionCallbackInfoINS1_5ValueEEE" -> "node::fs::Read".
 */
#ifndef TW_DEMANGLE_H
#define TW_DEMANGLE_H

#include <stddef.h>

/*
 * The readable form of name (len bytes, not NUL-terminated) in a new string the caller
 * frees, or NULL when name is not a mangled C++ name (or memory ran out): keep it as it is.
 */
char *tw_demangle(const char *name, size_t len);

/* The length of s without its trailing parameter list and qualifiers ("(int) const"). */
size_t tw_strip_params(const char *s, size_t len);

#endif
