# Skips, judged alike by every runner (sourced; the runner sets skip_list
# to tests/allowed-skips first). A skipped check is printed as TAP's
# "ok N # SKIP reason" and counted apart from passes. Where everything can
# run (CI: root, Docker, KVM or not), OSRUN_STRICT_SKIPS=1 turns any skip
# not listed in tests/allowed-skips into a failure.
#   skip_allowed "RUNNER: REASON"   true when that skip may stand
skip_allowed() {
	[ "${OSRUN_STRICT_SKIPS:-0}" = 1 ] || return 0
	grep -v -e '^#' -e '^$' "$skip_list" | grep -q -x -F -- "$1"
}
