# Shared compile options for every stagegate target, and the two helpers that keep each
# folder's CMakeLists.txt to a few lines.
add_library(sg_options INTERFACE)
target_compile_features(sg_options INTERFACE cxx_std_20)
target_compile_options(sg_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor
  -Woverloaded-virtual -Wimplicit-fallthrough
  -Wno-missing-field-initializers  # g++ 12 flags designated initializers that omit defaulted members
  # g++ 12 at -O1 and above flags Asio's awaitable_frame_base::operator delete, which frees
  # coroutine frames from Asio's recycling allocator (a false positive).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
  $<$<BOOL:${SG_WERROR}>:-Werror>
  $<$<BOOL:${SG_SANITIZE}>:-fsanitize=address,undefined -fno-omit-frame-pointer
                           -fno-sanitize-recover=undefined>)
target_link_options(sg_options INTERFACE $<$<BOOL:${SG_SANITIZE}>:-fsanitize=address,undefined>)
if(SG_FUZZ)
  # Coverage instrumentation for libFuzzer in every library; the fuzz targets add the driver.
  target_compile_options(sg_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(sg_options INTERFACE -fsanitize=address,undefined)
endif()
target_compile_definitions(sg_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_USE_STD_STRING_VIEW  # beast::string_view == std::string_view (Boost 1.74)
  BOOST_ASIO_HAS_CO_AWAIT=1        # 1.74 detects co_await only for GCC; clang needs it spelled out
  BOOST_ASIO_HAS_STD_COROUTINE=1
  SG_VERSION="${PROJECT_VERSION}")
target_include_directories(sg_options INTERFACE ${PROJECT_SOURCE_DIR})

find_program(SG_CCACHE ccache)
if(SG_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${SG_CCACHE})
endif()

# One static library per leaf folder. DEPS appear in its headers; PRIVATE_DEPS only in its .cpp.
function(sg_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC sg_options ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()
