// Default options of the ASan, LSan and UBSan runtimes for the sanitizer
// build (FEDPRESS_SANITIZE=ON); compiled into every executable by
// tests/sanitizer/defaults.cmake. The runtimes call these before main();
// ASAN_OPTIONS / LSAN_OPTIONS / UBSAN_OPTIONS in the environment still
// override any of them (tests/sanitizer/run.sh adds log_path there).
//
// Every error stops the process with a report. The only exceptions are leak
// suppressions for third-party libraries (lsan.supp), never for our code.
//
// Thread-safety: called by the runtime during start-up only.

extern "C" {

__attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "detect_leaks=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1:"
         "strict_init_order=1";
}

__attribute__((visibility("default"), used)) const char* __lsan_default_options() {
  return "suppressions=" FEDPRESS_LSAN_SUPPRESSIONS ":print_suppressions=0";
}

__attribute__((visibility("default"), used)) const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}

}  // extern "C"
