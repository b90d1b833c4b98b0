"""Nursing rules and shared bedside steps for the nursing robot's missions: the medication
administration record and its five rights (`mar`), the hand-out ledger rebuilt from the journal
(`ledger`), menus and diet rules (`menu`), the nursing questionnaire (`questionnaire`), and the
bedside helpers the missions share (`bedside`). Imports `hal` and `missions` only."""
