"""Security patrol checks: what the patrol robot looks for at a checkpoint and how.

`routes` holds the checkpoints and the day/night routes, `vision` the camera analyses (fire and
smoke by colour, flicker and haze; a puddle; an open doorway; motion by MOG2 background
subtraction), `thermal` the radiometric ones (hot spot over ambient; a person's distance), and
`assess` combines them with the smoke and leak sensors into findings with a category, a severity
and evidence. Everything here is plain functions over frames and readings (tested directly).
"""
