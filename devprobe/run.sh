set -x
nvidia-smi --query-gpu=name --format=csv,noheader
command -v sshd ssh ssh-keygen; ls /usr/sbin/sshd 2>&1
python -c "import torch, onnxruntime; print(torch.__version__, onnxruntime.__version__, onnxruntime.get_available_providers())"
timeout 500 python devprobe/agent_cuda.py 2>&1 | tail -30
