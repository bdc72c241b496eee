"""``crossmost-train demo``: the whole method end to end on the embedded synthetic benchmark."""
