"""Nursing rules and shared bedside steps for the nursing robot's missions: the medication
administration record and its five rights (`mar`), the hand-out ledger rebuilt from the journal
(`ledger`), the medication round's params and records (`medication_params`,
`medication_records`), menus and diet rules (`menu`), the meal missions' shared models and loop
(`meals`), the nursing questionnaire (`questionnaire`), the bed a bedside mission visits
(`beds`), the bed loop the bedside missions extend (`bedside_mission`), and the bedside helpers
the missions share (`bedside`). Imports `hal` and `missions` only."""
