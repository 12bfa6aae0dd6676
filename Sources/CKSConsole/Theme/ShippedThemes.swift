// Generated from themes/*.theme by `CKS_RECORD=1 swift test --filter ShippedThemes`; do not edit by hand.
// The shipped themes are compiled in, so the binary of a fresh clone finds them wherever it runs.
enum ShippedThemes {
    static let files: [String: String] = [
        "colorblind": ##"""
# cks theme: colorblind. Safe for deuteranopia and protanopia: no red/green pairs, states told apart
# by blue / orange / yellow (Okabe-Ito palette) and by brightness, always next to the state's name.
# Format: themes/README.md.  role = 256-colour | 16-colour | monochrome attributes
description = Blue/orange palette safe for red-green colour blindness (Okabe-Ito)

normal              = default/default           | default/default              | -
header              = 231/24 bold               | bright-white/blue bold       | reverse bold
header.accent       = 221/24 bold               | bright-yellow/blue bold      | reverse bold underline
badge.mode          = 16/74 bold                | black/bright-cyan bold       | reverse bold
badge.readonly      = 16/178 bold               | black/yellow bold            | reverse bold underline
title               = 74 bold                   | bright-cyan bold             | bold
border              = 240                       | gray                         | dim
table.header        = 250 bold                  | white bold                   | bold
table.sorted        = 74 bold underline         | bright-cyan bold underline   | bold underline
cursor              = 16/153 bold               | black/white bold             | reverse
marked              = 221 bold                  | bright-yellow bold           | bold underline
muted               = 245                       | gray                         | dim
state.connected     = 74 bold                   | bright-blue bold             | bold
state.connecting    = 117 underline             | bright-cyan underline        | underline
state.disconnected  = 250                       | white                        | -
state.disconnecting = 221 underline             | bright-yellow underline      | underline
state.failed        = 16/208 bold               | black/yellow bold            | bold underline
key.enabled         = 74                        | bright-blue                  | -
key.disabled        = 245                       | gray                         | dim
key.pending-deletion = 208 bold                 | yellow bold                  | bold underline
key.unavailable     = 221                       | bright-yellow                | dim underline
key.other           = 117                       | cyan                         | -
danger              = 16/208 bold               | black/yellow bold            | bold reverse
warning             = 221 bold                  | bright-yellow bold           | bold
ok                  = 74 bold                   | bright-blue bold             | bold
banner              = 16/208 bold               | black/yellow bold            | reverse bold
dialog              = 252/236                   | white/black                  | -
dialog.title        = 231/236 bold              | bright-white/black bold      | bold underline
dialog.button       = 250/238                   | white/black                  | -
dialog.focus        = 16/74 bold                | black/bright-cyan bold       | reverse bold
footer              = 250/236                   | white/black                  | -
footer.key          = 117/236 bold              | bright-cyan/black bold       | bold
footer.disabled     = 241/236                   | gray/black                   | dim
activity            = 250                       | white                        | -
activity.time       = 244                       | gray                         | dim
activity.error      = 208 bold                  | yellow bold                  | bold
filter              = 221 bold                  | bright-yellow bold           | underline
prompt              = 231/236                   | bright-white/black           | bold
"""##,
        "default": ##"""
# cks theme: default. Text on the terminal's own background; colours only where they carry meaning.
# Format: themes/README.md.  role = 256-colour | 16-colour | monochrome attributes
description = Dark-friendly colours on the terminal's own background

normal              = default/default           | default/default              | -
header              = 255/24 bold               | bright-white/blue bold       | reverse bold
header.accent       = 229/24 bold               | bright-yellow/blue bold      | reverse bold underline
badge.mode          = 16/114 bold               | black/green bold             | reverse bold
badge.readonly      = 16/214 bold               | black/yellow bold            | reverse bold underline
title               = 75 bold                   | bright-cyan bold             | bold
border              = 240                       | gray                         | dim
table.header        = 250 bold                  | white bold                   | bold
table.sorted        = 117 bold underline        | bright-cyan bold underline   | bold underline
cursor              = 231/25 bold               | bright-white/blue bold       | reverse
marked              = 226 bold                  | bright-yellow bold           | bold underline
muted               = 245                       | gray                         | dim
state.connected     = 114 bold                  | bright-green bold            | bold
state.connecting    = 81                        | bright-cyan                  | underline
state.disconnected  = 250                       | white                        | -
state.disconnecting = 214                       | yellow                       | underline
state.failed        = 203 bold                  | bright-red bold              | bold underline
key.enabled         = 114                       | green                        | -
key.disabled        = 245                       | gray                         | dim
key.pending-deletion = 209 bold                 | bright-red bold              | bold underline
key.unavailable     = 179                       | yellow                       | dim underline
key.other           = 81                        | cyan                         | -
danger              = 196 bold                  | bright-red bold              | bold reverse
warning             = 214 bold                  | yellow bold                  | bold
ok                  = 114 bold                  | green bold                   | bold
banner              = 231/124 bold              | bright-white/red bold        | reverse bold
dialog              = 252/236                   | white/black                  | -
dialog.title        = 231/236 bold              | bright-white/black bold      | bold underline
dialog.button       = 250/238                   | white/black                  | -
dialog.focus        = 16/75 bold                | black/cyan bold              | reverse bold
footer              = 250/236                   | white/black                  | -
footer.key          = 117/236 bold              | bright-cyan/black bold       | bold
footer.disabled     = 241/236                   | gray/black                   | dim
activity            = 250                       | white                        | -
activity.time       = 244                       | gray                         | dim
activity.error      = 203                       | bright-red                   | bold
filter              = 229 bold                  | bright-yellow bold           | underline
prompt              = 231/236                   | bright-white/black           | bold
"""##,
        "high-contrast": ##"""
# cks theme: high-contrast. Pure white on black, saturated state colours, bold everywhere it helps.
# Format: themes/README.md.  role = 256-colour | 16-colour | monochrome attributes
description = Maximum contrast: white on black, saturated colours, bold text

normal              = 231/16                    | bright-white/black           | -
header              = 16/231 bold               | black/bright-white bold      | reverse bold
header.accent       = 16/231 bold underline     | black/bright-white bold underline | reverse bold underline
badge.mode          = 16/46 bold                | black/bright-green bold      | reverse bold
badge.readonly      = 16/226 bold               | black/bright-yellow bold     | reverse bold underline
title               = 226/16 bold               | bright-yellow/black bold     | bold
border              = 231/16                    | bright-white/black           | -
table.header        = 231/16 bold underline     | bright-white/black bold underline | bold underline
table.sorted        = 226/16 bold underline     | bright-yellow/black bold underline | bold underline reverse
cursor              = 16/226 bold               | black/bright-yellow bold     | reverse bold
marked              = 51/16 bold underline      | bright-cyan/black bold underline | bold underline
muted               = 250/16                    | white/black                  | -
state.connected     = 46/16 bold                | bright-green/black bold      | bold
state.connecting    = 51/16 bold                | bright-cyan/black bold       | bold underline
state.disconnected  = 231/16                    | bright-white/black           | -
state.disconnecting = 226/16 bold               | bright-yellow/black bold     | bold underline
state.failed        = 231/196 bold              | bright-white/red bold        | bold underline
key.enabled         = 46/16 bold                | bright-green/black bold      | bold
key.disabled        = 250/16                    | white/black                  | -
key.pending-deletion = 16/208 bold              | black/bright-red bold        | bold reverse
key.unavailable     = 226/16 bold               | bright-yellow/black bold     | underline
key.other           = 51/16                     | bright-cyan/black            | -
danger              = 231/196 bold              | bright-white/red bold        | bold reverse
warning             = 226/16 bold               | bright-yellow/black bold     | bold
ok                  = 46/16 bold                | bright-green/black bold      | bold
banner              = 231/196 bold              | bright-white/red bold        | reverse bold
dialog              = 231/16                    | bright-white/black           | -
dialog.title        = 226/16 bold underline     | bright-yellow/black bold underline | bold underline
dialog.button       = 231/16 bold               | bright-white/black bold      | bold
dialog.focus        = 16/226 bold               | black/bright-yellow bold     | reverse bold
footer              = 231/16                    | bright-white/black           | -
footer.key          = 16/231 bold               | black/bright-white bold      | reverse bold
footer.disabled     = 248/16                    | white/black                  | dim
activity            = 231/16                    | bright-white/black           | -
activity.time       = 250/16                    | white/black                  | -
activity.error      = 231/196 bold              | bright-white/red bold        | bold reverse
filter              = 226/16 bold underline     | bright-yellow/black bold underline | bold underline
prompt              = 231/16 bold               | bright-white/black bold      | bold
"""##,
        "light": ##"""
# cks theme: light. Dark text on a white background, for light terminals.
# Format: themes/README.md.  role = 256-colour | 16-colour | monochrome attributes
description = Dark text on white, for light terminals

normal              = 235/231                   | black/bright-white           | -
header              = 231/25 bold               | bright-white/blue bold       | reverse bold
header.accent       = 230/25 bold               | bright-yellow/blue bold      | reverse bold underline
badge.mode          = 231/28 bold               | bright-white/green bold      | reverse bold
badge.readonly      = 16/220 bold               | black/yellow bold            | reverse bold underline
title               = 25/231 bold               | blue/bright-white bold       | bold
border              = 248/231                   | gray/bright-white            | dim
table.header        = 238/254 bold              | black/white bold             | bold
table.sorted        = 25/254 bold underline     | blue/white bold underline    | bold underline
cursor              = 16/153 bold               | black/cyan bold              | reverse
marked              = 90/231 bold               | magenta/bright-white bold    | bold underline
muted               = 243/231                   | gray/bright-white            | dim
state.connected     = 28/231 bold               | green/bright-white bold      | bold
state.connecting    = 25/231                    | blue/bright-white            | underline
state.disconnected  = 240/231                   | black/bright-white           | -
state.disconnecting = 130/231                   | yellow/bright-white          | underline
state.failed        = 160/231 bold              | red/bright-white bold        | bold underline
key.enabled         = 28/231                    | green/bright-white           | -
key.disabled        = 243/231                   | gray/bright-white            | dim
key.pending-deletion = 166/231 bold             | red/bright-white bold        | bold underline
key.unavailable     = 130/231                   | yellow/bright-white          | dim underline
key.other           = 25/231                    | blue/bright-white            | -
danger              = 160/231 bold              | red/bright-white bold        | bold reverse
warning             = 130/231 bold              | yellow/bright-white bold     | bold
ok                  = 28/231 bold               | green/bright-white bold      | bold
banner              = 231/160 bold              | bright-white/red bold        | reverse bold
dialog              = 235/254                   | black/white                  | -
dialog.title        = 16/254 bold               | black/white bold             | bold underline
dialog.button       = 235/252                   | black/white                  | -
dialog.focus        = 231/25 bold               | bright-white/blue bold       | reverse bold
footer              = 235/252                   | black/white                  | -
footer.key          = 25/252 bold               | blue/white bold              | bold
footer.disabled     = 246/252                   | gray/white                   | dim
activity            = 237/231                   | black/bright-white           | -
activity.time       = 244/231                   | gray/bright-white            | dim
activity.error      = 160/231                   | red/bright-white             | bold
filter              = 90/231 bold               | magenta/bright-white bold    | underline
prompt              = 16/252                    | black/white                  | bold
"""##,
        "mono": ##"""
# cks theme: mono. No colour at all, on any terminal: attributes only (what NO_COLOR gets).
# Format: themes/README.md.  role = 256-colour | 16-colour | monochrome attributes
description = No colour: bold, dim, underline and reverse only

normal              = -                         | -                            | -
header              = - reverse bold            | - reverse bold               | reverse bold
header.accent       = - reverse bold underline  | - reverse bold underline     | reverse bold underline
badge.mode          = - reverse bold            | - reverse bold               | reverse bold
badge.readonly      = - reverse bold underline  | - reverse bold underline     | reverse bold underline
title               = - bold                    | - bold                       | bold
border              = - dim                     | - dim                        | dim
table.header        = - bold                    | - bold                       | bold
table.sorted        = - bold underline          | - bold underline             | bold underline
cursor              = - reverse                 | - reverse                    | reverse
marked              = - bold underline          | - bold underline             | bold underline
muted               = - dim                     | - dim                        | dim
state.connected     = - bold                    | - bold                       | bold
state.connecting    = - underline               | - underline                  | underline
state.disconnected  = -                         | -                            | -
state.disconnecting = - underline               | - underline                  | underline
state.failed        = - bold underline          | - bold underline             | bold underline
key.enabled         = -                         | -                            | -
key.disabled        = - dim                     | - dim                        | dim
key.pending-deletion = - bold underline         | - bold underline             | bold underline
key.unavailable     = - dim underline           | - dim underline              | dim underline
key.other           = -                         | -                            | -
danger              = - bold reverse            | - bold reverse               | bold reverse
warning             = - bold                    | - bold                       | bold
ok                  = - bold                    | - bold                       | bold
banner              = - reverse bold            | - reverse bold               | reverse bold
dialog              = -                         | -                            | -
dialog.title        = - bold underline          | - bold underline             | bold underline
dialog.button       = -                         | -                            | -
dialog.focus        = - reverse bold            | - reverse bold               | reverse bold
footer              = -                         | -                            | -
footer.key          = - bold                    | - bold                       | bold
footer.disabled     = - dim                     | - dim                        | dim
activity            = -                         | -                            | -
activity.time       = - dim                     | - dim                        | dim
activity.error      = - bold                    | - bold                       | bold
filter              = - underline               | - underline                  | underline
prompt              = - bold                    | - bold                       | bold
"""##,
    ]
}
