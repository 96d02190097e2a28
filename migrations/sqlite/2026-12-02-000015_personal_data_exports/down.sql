DROP TABLE personal_data_exports;
