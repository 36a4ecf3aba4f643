/* placeholder so the empty library links; removed when the loaders land */
typedef int nas_trainer_data_placeholder;
