"""How learned models run: device and precision choice, the CPU allocator, int8 quantization."""
