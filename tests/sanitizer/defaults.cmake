# Adds tests/sanitizer/default_options.cc (the sanitizer runtimes' default
# options and leak suppressions) to every executable target of the build, so
# tests, and the server, client and model processes they start, need no
# environment. Included from the top-level CMakeLists.txt after all
# subdirectories when FEDPRESS_SANITIZE is on.
set(_fp_san_src ${PROJECT_SOURCE_DIR}/tests/sanitizer/default_options.cc)
function(fp_sanitizer_defaults_in dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE")
      target_sources(${t} PRIVATE ${_fp_san_src})
      set_source_files_properties(${_fp_san_src} TARGET_DIRECTORY ${t} PROPERTIES COMPILE_DEFINITIONS
        "FEDPRESS_LSAN_SUPPRESSIONS=\"${PROJECT_SOURCE_DIR}/tests/sanitizer/lsan.supp\"")
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    fp_sanitizer_defaults_in(${sub})
  endforeach()
endfunction()
fp_sanitizer_defaults_in(${PROJECT_SOURCE_DIR})
