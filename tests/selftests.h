//  selftests.h: the process modules' selftests, run by tests/selftest.c.
//  Add a module's <name>_test here when the module is added.
#ifndef PYCHAT_SELFTESTS_H_INCLUDED
#define PYCHAT_SELFTESTS_H_INCLUDED

#define PYCHAT_MODULE_SELFTESTS(verbose) do { } while (0)

#endif
