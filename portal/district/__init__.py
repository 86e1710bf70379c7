"""District admins: schools, school admins, figures across schools. Never a case, a name in a case, or an answer."""
