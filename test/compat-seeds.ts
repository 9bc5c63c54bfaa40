/** The request bodies of seed 001's examples (3.2.1 balance, 3.2.3 status, 3.2.5 send, 3.2.7 voice), as the seed writes them. */
export const SEED_001_EXAMPLES = {
  balance: { balance: ['rub'], route: 'ds' },
  status: { status: { key: 'd4ef9989a9e651d870a90cfed132f8d4' }, route: 'ds' },
  send: {
    send: {
      text_male: 'Уважаемый {{first_name}}! Поздравляем Вас с наступающим Новым годом!',
      text_female: 'Уважаемая {{first_name}}! Поздравляем Вас с наступающим Новым годом!',
      fields: ['first_name'],
      users: [
        { phone: '+79281706700', gender: 'male', first_name: 'Андрей' },
        { phone: '+79281706700', gender: 'male', first_name: 'Андрей' },
        { phone: '+79281706700', gender: 'male', first_name: 'Андрей' },
      ],
    },
    route: 'ds',
    ttl: 7200,
    mode: 'debug',
  },
  voice: {
    send: {
      text_male: 'Здравствуйете. Поздравляем с наступающим Новым Годом!',
      text_alternative: 'Здравствуйете. Поздравляем с наступающим Новым Годом!',
      fields: ['fio'],
      users: [{ phone: '+79198828851', fio: 'Дмитрий Дмитриевич' }],
    },
    voice: 1,
    timeLimit: '2022-03-15 13:00',
    route: 'осм',
  },
};
