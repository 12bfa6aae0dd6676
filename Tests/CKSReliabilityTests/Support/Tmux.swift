import Testing

/// Whether tmux is here; without it a console test is skipped with a visible reason, or fails under
/// `CKS_REQUIRE_EXTERNAL=1`.
func requireTmux() -> Bool {
    if TmuxSession.available { return true }
    if Scale.requireExternal {
        Issue.record("tmux is not installed and CKS_REQUIRE_EXTERNAL=1")
    } else {
        reportFigure("console", "SKIPPED: tmux is not installed (set CKS_REQUIRE_EXTERNAL=1 to make this a failure)")
    }
    return false
}
