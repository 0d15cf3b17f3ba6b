#ifndef C_FUZZ_DRIVER_H
#define C_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer (its command-line flags, its corpus handling) on `test_one_input`. The targets are
/// SwiftPM executables whose own main() calls this, since SwiftPM gives every executable a main.
int eventbase_fuzz_main(int argc, char **argv, int (*test_one_input)(const uint8_t *data, size_t size));

#endif
