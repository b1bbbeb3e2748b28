# tessera_add_plugin(NAME SOURCES... [LIBRARIES ...] [OUTPUT_DIRECTORY DIR] [NO_INSTALL])
#
# Builds NAME.so, the file name the host looks for when a node's TOML selects NAME. Plugins are
# compiled with hidden visibility: the exported descriptor is the only symbol the host needs.
# The same function ships in the installed SDK (TesseraConfig.cmake), so in-tree and
# out-of-tree plugins are built the same way.
#
# `cmake --install` puts the plugin in PREFIX/${TESSERA_INSTALL_PLUGINDIR} (by default
# lib/tessera/plugins, the directory an installed tessera-host searches next to its binary),
# unless NO_INSTALL is given (test fixtures).
if(NOT DEFINED TESSERA_INSTALL_PLUGINDIR)
  set(TESSERA_INSTALL_PLUGINDIR lib/tessera/plugins)
endif()

function(tessera_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE Tessera::sdk ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED TESSERA_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${TESSERA_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION ${TESSERA_INSTALL_PLUGINDIR} COMPONENT runtime)
  endif()
endfunction()
