"""Training MQNet: real HDR folders + synthetic game-like scenes -> SDR/HDR pairs -> safetensors weights."""
