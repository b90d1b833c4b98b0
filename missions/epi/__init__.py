"""The epidemiological survey's parts: the case investigation questionnaire as data (with skip
logic and a repeating close-contact group), the case report builder (JSON and FHIR R4
QuestionnaireResponse) and the segment uploader (bounded buffer while the uplink is down)."""
