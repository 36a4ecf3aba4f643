/* placeholder so the empty library links; removed when the CPU backend lands */
typedef int nas_trainer_cpu_placeholder;
