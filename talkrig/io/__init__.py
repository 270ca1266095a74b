"""Files and media: atomic writes, images, audio, video."""
