DROP INDEX cases_description_trgm;
DROP INDEX cases_title_trgm;
