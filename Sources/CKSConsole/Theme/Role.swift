import CKSDomain

/// The semantic roles a theme colours. Widgets name a role ("this is a FAILED store"), never a colour.
/// Raw values are the names used in theme files.
public enum Role: String, CaseIterable, Sendable, Hashable {
    case normal
    case header
    case headerAccent = "header.accent"
    case badgeMode = "badge.mode"
    case badgeReadOnly = "badge.readonly"
    case title
    case border
    case tableHeader = "table.header"
    case tableSorted = "table.sorted"
    case cursor
    case marked
    case muted
    case stateConnected = "state.connected"
    case stateConnecting = "state.connecting"
    case stateDisconnected = "state.disconnected"
    case stateDisconnecting = "state.disconnecting"
    case stateFailed = "state.failed"
    case keyEnabled = "key.enabled"
    case keyDisabled = "key.disabled"
    case keyPendingDeletion = "key.pending-deletion"
    case keyUnavailable = "key.unavailable"
    case keyOther = "key.other"
    case danger
    case warning
    case ok
    case banner
    case dialog
    case dialogTitle = "dialog.title"
    case dialogButton = "dialog.button"
    case dialogFocus = "dialog.focus"
    case footer
    case footerKey = "footer.key"
    case footerDisabled = "footer.disabled"
    case activity
    case activityTime = "activity.time"
    case activityError = "activity.error"
    case filter
    case prompt

    /// What the role is for, as documented in themes/README.md.
    public var purpose: String {
        switch self {
        case .normal: return "ordinary text on the background"
        case .header: return "the top bar"
        case .headerAccent: return "values in the top bar (endpoint, account, region)"
        case .badgeMode: return "the EMBEDDED / REMOTE badge"
        case .badgeReadOnly: return "the READ-ONLY badge"
        case .title: return "a panel's title line"
        case .border: return "box and separator lines"
        case .tableHeader: return "column headings"
        case .tableSorted: return "the heading of the sort column"
        case .cursor: return "the cursor row"
        case .marked: return "marked rows"
        case .muted: return "secondary text"
        case .stateConnected: return "CONNECTED"
        case .stateConnecting: return "CONNECTING"
        case .stateDisconnected: return "DISCONNECTED"
        case .stateDisconnecting: return "DISCONNECTING"
        case .stateFailed: return "FAILED"
        case .keyEnabled: return "key state Enabled"
        case .keyDisabled: return "key state Disabled"
        case .keyPendingDeletion: return "key state PendingDeletion and deletion countdowns"
        case .keyUnavailable: return "key state Unavailable"
        case .keyOther: return "other key states (Creating, Updating, ...)"
        case .danger: return "irreversible consequences, destructive buttons"
        case .warning: return "cautions"
        case .ok: return "success messages"
        case .banner: return "the banner shown while the core fails or is unreachable"
        case .dialog: return "dialog body"
        case .dialogTitle: return "dialog title"
        case .dialogButton: return "dialog buttons"
        case .dialogFocus: return "the focused dialog button"
        case .footer: return "the bottom bar"
        case .footerKey: return "key names in the bottom bar"
        case .footerDisabled: return "actions the current state does not allow"
        case .activity: return "the Activity pane"
        case .activityTime: return "times and latencies in the Activity pane"
        case .activityError: return "failed calls in the Activity pane"
        case .filter: return "the filter shown in a title"
        case .prompt: return "the : command line"
        }
    }

    /// The role for a store's connection state.
    public static func of(_ state: ConnectionState) -> Role {
        switch state {
        case .connected: return .stateConnected
        case .connecting: return .stateConnecting
        case .disconnected: return .stateDisconnected
        case .disconnecting: return .stateDisconnecting
        case .failed: return .stateFailed
        }
    }

    /// The role for a key state.
    public static func of(_ state: KeyState) -> Role {
        switch state {
        case .enabled: return .keyEnabled
        case .disabled: return .keyDisabled
        case .pendingDeletion: return .keyPendingDeletion
        case .unavailable: return .keyUnavailable
        default: return .keyOther
        }
    }
}
