"""The sample rate every model here works at: one constant that the decoder, the framing and the features share."""

DEFAULT_SR = 16000  # Hz: what Speech Commands records and what the keyword models and spotters hear
