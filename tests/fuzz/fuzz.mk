# tests/fuzz/fuzz.mk - fuzzing of the parsers (included by Makefile.am).
#
# Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput() around one
# parser: parse (scgi_parse), split (the same fed in pieces), multipart,
# response (scgiserver's relay_response_head), address (addr_parse) and
# config (conf_load), cgi (scgiserver's CGI header block and environment,
# cgi_head_parse and cgi_env). With configure --enable-fuzzers (clang), `make`
# builds tests/fuzz/fuzz_NAME, a libFuzzer program with ASan and UBSan,
# over copies of the library and scgiserver sources compiled with the same
# flags (so that libFuzzer sees their coverage). Whatever the
# configuration, `make check` builds tests/fuzz/replay_NAME, the same
# target with tests/fuzz/replay.c as main(), and tests/fuzz/replay.sh runs
# each over its corpus, tests/fuzz/corpus/NAME. See tests/fuzz/README.md.

FUZZ_PARSE = tests/fuzz/fuzz_parse.c tests/fuzz/fuzz.h
FUZZ_SPLIT = tests/fuzz/fuzz_split.c tests/fuzz/fuzz.h
FUZZ_MULTIPART = tests/fuzz/fuzz_multipart.c tests/fuzz/fuzz.h
FUZZ_RESPONSE = tests/fuzz/fuzz_response.c tests/fuzz/fuzz.h \
	scgiserver/relay.c scgiserver/relay.h scgiserver/log.c scgiserver/log.h
FUZZ_ADDRESS = tests/fuzz/fuzz_address.c tests/fuzz/fuzz.h \
	tests/fuzz/resolve.c scgiserver/addr.c scgiserver/addr.h
FUZZ_CONFIG = tests/fuzz/fuzz_config.c tests/fuzz/fuzz.h \
	tests/fuzz/resolve.c scgiserver/conf.c scgiserver/conf.h \
	scgiserver/addr.c scgiserver/addr.h scgiserver/log.c scgiserver/log.h
FUZZ_CGI = tests/fuzz/fuzz_cgi.c tests/fuzz/fuzz.h \
	scgiserver/cgi_head.c scgiserver/cgi_head.h \
	scgiserver/cgi_env.c scgiserver/cgi_env.h

# ---------------------------------------------------------------- replay

check_PROGRAMS += tests/fuzz/replay_parse tests/fuzz/replay_split \
	tests/fuzz/replay_multipart tests/fuzz/replay_response \
	tests/fuzz/replay_address tests/fuzz/replay_config tests/fuzz/replay_cgi
tests_fuzz_replay_parse_SOURCES = tests/fuzz/replay.c $(FUZZ_PARSE)
tests_fuzz_replay_parse_LDADD = $(TESTLIB)
tests_fuzz_replay_parse_LDFLAGS = $(TESTLINK)
tests_fuzz_replay_split_SOURCES = tests/fuzz/replay.c $(FUZZ_SPLIT)
tests_fuzz_replay_split_LDADD = $(TESTLIB)
tests_fuzz_replay_split_LDFLAGS = $(TESTLINK)
tests_fuzz_replay_multipart_SOURCES = tests/fuzz/replay.c $(FUZZ_MULTIPART)
tests_fuzz_replay_multipart_LDADD = $(TESTLIB)
tests_fuzz_replay_multipart_LDFLAGS = $(TESTLINK)
tests_fuzz_replay_response_SOURCES = tests/fuzz/replay.c $(FUZZ_RESPONSE)
tests_fuzz_replay_response_LDADD = $(TESTLIB)
tests_fuzz_replay_response_LDFLAGS = $(TESTLINK)
tests_fuzz_replay_address_SOURCES = tests/fuzz/replay.c $(FUZZ_ADDRESS)
tests_fuzz_replay_address_LDADD = $(TESTLIB)
tests_fuzz_replay_address_LDFLAGS = $(TESTLINK)
tests_fuzz_replay_config_SOURCES = tests/fuzz/replay.c $(FUZZ_CONFIG)
tests_fuzz_replay_config_LDADD = $(TESTLIB)
tests_fuzz_replay_config_LDFLAGS = $(TESTLINK)
tests_fuzz_replay_cgi_SOURCES = tests/fuzz/replay.c $(FUZZ_CGI)
tests_fuzz_replay_cgi_LDADD = $(TESTLIB)
tests_fuzz_replay_cgi_LDFLAGS = $(TESTLINK)

TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/fuzz.mk tests/fuzz/replay.sh tests/fuzz/README.md \
	tests/fuzz/corpus tests/fuzz/parse.dict tests/fuzz/multipart.dict \
	tests/fuzz/response.dict tests/fuzz/address.dict tests/fuzz/config.dict

# ---------------------------------------------------------------- libFuzzer

if ENABLE_FUZZERS
noinst_LIBRARIES = tests/fuzz/libscgi-fuzz.a
tests_fuzz_libscgi_fuzz_a_SOURCES = $(libscgi_la_SOURCES)
tests_fuzz_libscgi_fuzz_a_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)

FUZZ_CC = $(AM_CFLAGS) $(FUZZ_FLAGS)
FUZZ_LIB = tests/fuzz/libscgi-fuzz.a
FUZZ_LINK = $(AM_LDFLAGS) $(FUZZ_FLAGS)

noinst_PROGRAMS += tests/fuzz/fuzz_parse tests/fuzz/fuzz_split \
	tests/fuzz/fuzz_multipart tests/fuzz/fuzz_response \
	tests/fuzz/fuzz_address tests/fuzz/fuzz_config tests/fuzz/fuzz_cgi
tests_fuzz_fuzz_parse_SOURCES = $(FUZZ_PARSE)
tests_fuzz_fuzz_parse_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_parse_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_parse_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_split_SOURCES = $(FUZZ_SPLIT)
tests_fuzz_fuzz_split_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_split_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_split_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_multipart_SOURCES = $(FUZZ_MULTIPART)
tests_fuzz_fuzz_multipart_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_multipart_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_multipart_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_response_SOURCES = $(FUZZ_RESPONSE)
tests_fuzz_fuzz_response_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_response_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_response_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_address_SOURCES = $(FUZZ_ADDRESS)
tests_fuzz_fuzz_address_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_address_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_address_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_config_SOURCES = $(FUZZ_CONFIG)
tests_fuzz_fuzz_config_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_cgi_SOURCES = $(FUZZ_CGI)
tests_fuzz_fuzz_cgi_CFLAGS = $(FUZZ_CC)
tests_fuzz_fuzz_cgi_LDADD = $(FUZZ_LIB)
tests_fuzz_fuzz_cgi_LDFLAGS = $(FUZZ_LINK)
endif
