"""PI-Net: exact and learned persistence images of signals and images."""
