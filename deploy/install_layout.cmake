# Install-time part of deploy/CMakeLists.txt: writes the systemd units (with
# this prefix's paths), the sysusers file and the example configs.
# Inputs (set by the install(CODE) that includes this file): FP_SOURCE_DIR,
# FP_STAGE_DIR, FP_BINDIR_REL, FP_DOCDIR_REL, FP_HAVE_CLIENT; and, from the
# install itself, CMAKE_INSTALL_PREFIX and $ENV{DESTDIR}.

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(FP_SYSCONFDIR /etc)
else()
  set(FP_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(FP_BINDIR "${CMAKE_INSTALL_PREFIX}/${FP_BINDIR_REL}")
set(FP_DOCDIR "${CMAKE_INSTALL_PREFIX}/${FP_DOCDIR_REL}")

set(units fedpress-server.service)
if(FP_HAVE_CLIENT)
  list(APPEND units fedpress-client.service fedpress-client@.service)
endif()
file(MAKE_DIRECTORY "${FP_STAGE_DIR}")
foreach(unit IN LISTS units)
  configure_file("${FP_SOURCE_DIR}/deploy/systemd/${unit}.in" "${FP_STAGE_DIR}/${unit}" @ONLY)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES "${FP_STAGE_DIR}/${unit}")
endforeach()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" TYPE FILE
     RENAME fedpress.conf FILES "${FP_SOURCE_DIR}/deploy/systemd/fedpress.sysusers.conf")

# Example configs: never overwrite one an administrator may have edited.
set(configs server.toml)
if(FP_HAVE_CLIENT)
  list(APPEND configs client.toml)
endif()
foreach(config IN LISTS configs)
  set(src "${FP_SOURCE_DIR}/deploy/config/${config}")
  set(dst "$ENV{DESTDIR}${FP_SYSCONFDIR}/fedpress/${config}")
  set(name "${config}")
  if(EXISTS "${dst}")
    file(SHA256 "${src}" src_hash)
    file(SHA256 "${dst}" dst_hash)
    if(NOT src_hash STREQUAL dst_hash)
      set(name "${config}.new")
      message(STATUS "Keeping ${dst} (it differs from the example): new example in ${name}")
    endif()
  endif()
  file(INSTALL DESTINATION "${FP_SYSCONFDIR}/fedpress" TYPE FILE RENAME "${name}" FILES "${src}")
endforeach()

if(NOT EXISTS "${FP_SOURCE_DIR}/web/dist/index.html")
  message(WARNING "web/dist is not built (run `make web`): the dashboard was not installed; "
                  "fedpress-server will serve a page saying how to build it")
endif()
